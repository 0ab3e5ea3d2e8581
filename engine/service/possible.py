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

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from engine.core.guards import GUARDS, PlanFacts
from engine.core.template.compile import Workflow
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode
from engine.service.actions import plan_facts
from engine.service.reporting import reporting_open
from engine.service.writes import owner_roles
from engine.store import Transaction
from engine.store.inbox_reads import (
    decided_tasks,
    escalations_of,
    goal_facts_of,
    item_facts_of,
    open_step_tasks,
    signers_of_tasks,
)
from engine.store.people import Person
from engine.store.tasks import EscalationTask, OpenTask, Signer, escalations_at, open_task, signers

EDIT = "plan edit"
REPORT_ITEM = "report item"
REPORT_GOAL = "report goal"

Refuses = Callable[[str], bool]  # whether a trigger would be refused


@dataclass(frozen=True)
class Ask:
    """One plan to ask `possible_many` about: its state, workflow, and the person's roles on it."""

    plan_id: int
    state: str
    workflow: Workflow
    roles: Collection[str]


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
    source = workflow.template.states[state]
    held = set(roles)
    task = open_task(tx, plan_id=plan_id) if source.task is not None else None
    escalations = (
        escalations_at(tx, plan_id=plan_id, org_id=user.org_id) if source.task is not None else []
    )
    asked = signers(tx, task_id=task.id) if task is not None and task.sign != SignMode.ANY else []
    candidates = _candidates(workflow, state, held, escalations, task, asked, user)
    guarded = any(guards for _, guards in candidates)
    facts = plan_facts(tx, plan_id, task) if guarded else None
    return _decide(workflow, state, held, candidates, facts)


def possible_many(
    tx: Transaction,
    *,
    asks: Sequence[Ask],
    user: Person,
    signers_known: Mapping[int, list[Signer]] | None = None,
) -> dict[int, list[str]]:
    """`possible_now` for many plans at once, by plan id, from a fixed number of reads whatever
    the number of plans: the same decision, on the same data, read for all of them together.
    `signers_known`: the signers of tasks the caller read already in this transaction (by task
    id; every signer of each), not read again."""
    stepped = [a.plan_id for a in asks if a.workflow.template.states[a.state].task is not None]
    tasks = open_step_tasks(tx, plan_ids=stepped)
    escalations = escalations_of(tx, plan_ids=stepped, org_id=user.org_id)
    known = signers_known or {}
    countersigned = [t.id for t in tasks.values() if t.sign != SignMode.ANY]
    asked = {t: known[t] for t in countersigned if t in known}
    asked.update(signers_of_tasks(tx, task_ids=[t for t in countersigned if t not in known]))
    candidates: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    for a in asks:
        task = tasks.get(a.plan_id)
        candidates[a.plan_id] = _candidates(
            a.workflow,
            a.state,
            set(a.roles),
            escalations.get(a.plan_id, []),
            task,
            asked.get(task.id, []) if task is not None else [],
            user,
        )
    guarded = [a.plan_id for a in asks if any(guards for _, guards in candidates[a.plan_id])]
    facts = _facts_of(tx, guarded, tasks)
    return {
        a.plan_id: _decide(
            a.workflow, a.state, set(a.roles), candidates[a.plan_id], facts.get(a.plan_id)
        )
        for a in asks
    }


def _facts_of(
    tx: Transaction, plan_ids: list[int], tasks: dict[int, OpenTask]
) -> dict[int, PlanFacts]:
    """`actions.plan_facts` for each of these plans, in three reads."""
    if not plan_ids:
        return {}
    goals = goal_facts_of(tx, plan_ids=plan_ids)
    items = item_facts_of(tx, plan_ids=plan_ids)
    touched = decided_tasks(tx, task_ids=[tasks[p].id for p in plan_ids if p in tasks])
    return {
        p: PlanFacts(
            item_count=len(items[p]),
            goal_count=len(goals[p]),
            unreported_goals=tuple(g.title for g in goals[p] if g.actual is None),
            unreported_items=tuple(f"{i.month}月 {i.title}" for i in items[p] if i.status is None),
            current_task_touched=p in tasks and tasks[p].id in touched,
        )
        for p in plan_ids
    }


def _candidates(
    workflow: Workflow,
    state: str,
    held: set[str],
    escalations: list[EscalationTask],
    task: OpenTask | None,
    asked: list[Signer],
    user: Person,
) -> list[tuple[str, tuple[str, ...]]]:
    """The triggers the person's roles, escalations and signature allow, in template order, each
    with the guards that must still pass on the plan's facts."""
    source = workflow.template.states[state]
    # The step's own role, when `user` may act as it through an escalation task they hold at
    # their organisation.
    stand_in_role = (
        source.task.role
        if source.task is not None and any(e.role in held for e in escalations)
        else None
    )
    refusal = _signing_refusal(task, asked, user)
    found: list[tuple[str, tuple[str, ...]]] = []
    for transition in workflow.template.transitions_from(state):
        if transition.is_timer:
            continue
        own = bool(set(transition.roles) & held)
        # `act` tries the person's own roles first; only if they do not allow the trigger does
        # an escalation task let them act as the step's own role, outside the countersign.
        if not own and stand_in_role not in transition.roles:
            continue
        if own and refusal is not None and refusal(transition.trigger):
            continue
        found.append((transition.trigger, tuple(transition.guards)))
    return found


def _decide(
    workflow: Workflow,
    state: str,
    held: set[str],
    candidates: list[tuple[str, tuple[str, ...]]],
    facts: PlanFacts | None,
) -> list[str]:
    """The candidates whose guards pass on `facts`, then the owner's commands."""
    template = workflow.template
    possible = []
    for trigger, guards in candidates:
        if guards:
            assert facts is not None, "facts are read for every plan with a guarded candidate"
            if any(GUARDS[guard](facts) is not None for guard in guards):
                continue
        possible.append(trigger)
    if held & owner_roles(template):
        source = template.states[state]
        if source.initial or source.items_live:
            possible.append(EDIT)
        if reporting_open(template, state, goals=False):
            possible.append(REPORT_ITEM)
        if reporting_open(template, state, goals=True):
            possible.append(REPORT_GOAL)
    return possible


def _signing_refusal(task: OpenTask | None, asked: list[Signer], user: Person) -> Refuses | None:
    """For a countersigned step, which triggers `act` would refuse to this person (see
    `actions._countersign`): all once they signed or while it is not their turn in `sequence`,
    `approve` when they are not a signer; None when the step is not countersigned."""
    if task is None or task.sign == SignMode.ANY:
        return None
    mine = next((s for s in asked if s.user_id == user.id), None)
    if mine is None:
        return lambda trigger: trigger == COUNTERSIGN_TRIGGER
    undecided = [s for s in asked if s.decision is None]
    waiting = task.sign == SignMode.SEQUENCE and undecided[0].user_id != user.id
    if mine.decision is not None or waiting:
        return lambda trigger: True
    return None
