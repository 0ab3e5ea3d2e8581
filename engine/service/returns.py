"""Returns: who sent a plan back to its drafters, when and why.

A return is a transition the template makes one (`Template.is_return`: back to the initial state,
with a required comment, the reason). Nothing extra is stored for it: the audit row of the write
carries the actor, the time, the step it came from and the comment. `last_return` reads it while
the plan still waits in its initial state because of it, for `plan show`, the drafters' inbox and
the `plan_returned` notice the dispatcher renders (see `actions._notify_return`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.core.template.compile import Workflow
from engine.store import Transaction
from engine.store.audit import last_state_change


@dataclass(frozen=True)
class ReturnNote:
    """The return that put a plan back into its initial state."""

    at: dt.datetime
    by: str  # the person's name ("system" if no one: a template could let a timer return)
    by_username: str | None
    from_state: str
    step_title: str  # the title of `from_state`
    action: str  # the trigger, e.g. return
    reason: str


def last_return(
    tx: Transaction, *, plan_id: int, state: str, workflow: Workflow
) -> ReturnNote | None:
    """The return the plan waits on, or None: it is not in its initial state, or its last change
    of state was not a return (it was created there, or withdrawn by its drafters)."""
    template = workflow.template
    if state != template.initial_state.name:
        return None
    event = last_state_change(tx, plan_id=plan_id)
    if event is None:
        return None
    source = event.from_state
    transition = template.transition(source, event.action)
    if transition is None or event.to_state != state or not template.is_return(transition):
        return None
    return ReturnNote(
        at=event.at,
        by=event.actor_name if event.actor_name is not None else "system",
        by_username=event.actor_username,
        from_state=source,
        step_title=template.states[source].title if source in template.states else source,
        action=event.action,
        reason=event.comment or "",
    )
