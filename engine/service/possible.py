"""What one person may really do on a plan now: the checks of `act`, the edits and the reports,
asked without acting.

`plan show` lists it as "you may now", so it must never offer what would be refused: a trigger is
listed when the person's roles (or an escalation task they hold, as `act` allows) permit it, its
guards pass on the plan's facts, and in a countersigned step the person may still sign (they have
not signed this round, and in `sequence` it is their turn). Besides the triggers of `planflow act`
it names the other commands an owner may use here: `plan edit` (in the initial state, or to
amend the monthly items of a live plan), `report item` and `report goal` where reports are open.
Comments and scores are not checked: they are what the person adds when acting.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from engine.core.guards import GUARDS
from engine.core.template.compile import Workflow
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode
from engine.service.actions import plan_facts
from engine.service.reporting import reporting_open
from engine.service.writes import owner_roles
from engine.store import Transaction
from engine.store.people import Person
from engine.store.tasks import OpenTask, escalations_at, open_task, signers

EDIT = "plan edit"
REPORT_ITEM = "report item"
REPORT_GOAL = "report goal"

Refuses = Callable[[str], bool]  # whether a trigger would be refused


def possible_now(
    tx: Transaction,
    *,
    plan_id: int,
    state: str,
    workflow: Workflow,
    user: Person,
    roles: Collection[str],
) -> list[str]:
    """The triggers `user` (holding `roles` on this plan) may use now, in template order, then
    the owner's commands (`EDIT`, `REPORT_ITEM`, `REPORT_GOAL`) that would be accepted."""
    template = workflow.template
    source = template.states[state]
    held = set(roles)
    task = open_task(tx, plan_id=plan_id) if source.task is not None else None
    # The step's own role, when `user` may act as it through an escalation task they hold.
    stand_in_role = (
        source.task.role
        if source.task is not None and _holds_escalation(tx, plan_id, user, held)
        else None
    )
    refusal = _signing_refusal(tx, task, user)
    facts = None
    possible: list[str] = []
    for transition in template.transitions_from(state):
        if transition.is_timer:
            continue
        own = bool(set(transition.roles) & held)
        # `act` tries the person's own roles first; only if they do not allow the trigger does
        # an escalation task let them act as the step's own role, outside the countersign.
        if not own and stand_in_role not in transition.roles:
            continue
        if own and refusal is not None and refusal(transition.trigger):
            continue
        if transition.guards:
            facts = facts or plan_facts(tx, plan_id, task)
            if any(GUARDS[guard](facts) is not None for guard in transition.guards):
                continue
        possible.append(transition.trigger)
    if held & owner_roles(template):
        if source.initial or source.items_live:
            possible.append(EDIT)
        if reporting_open(template, state, goals=False):
            possible.append(REPORT_ITEM)
        if reporting_open(template, state, goals=True):
            possible.append(REPORT_GOAL)
    return possible


def _holds_escalation(tx: Transaction, plan_id: int, user: Person, roles: set[str]) -> bool:
    """Whether `user` holds the role of an open escalation task of the plan at its organisation."""
    escalations = escalations_at(tx, plan_id=plan_id, org_id=user.org_id)
    return any(task.role in roles for task in escalations)


def _signing_refusal(tx: Transaction, task: OpenTask | None, user: Person) -> Refuses | None:
    """For a countersigned step, which triggers `act` would refuse to this person (see
    `actions._countersign`): all once they signed or while it is not their turn in `sequence`,
    `approve` when they are not a signer; None when the step is not countersigned."""
    if task is None or task.sign == SignMode.ANY:
        return None
    asked = signers(tx, task_id=task.id)
    mine = next((s for s in asked if s.user_id == user.id), None)
    if mine is None:
        return lambda trigger: trigger == COUNTERSIGN_TRIGGER
    undecided = [s for s in asked if s.decision is None]
    waiting = task.sign == SignMode.SEQUENCE and undecided[0].user_id != user.id
    if mine.decision is not None or waiting:
        return lambda trigger: True
    return None
