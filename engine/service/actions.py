"""Acting on plans: a person's decision or a timer, through one path.

`act` checks the action with the compiled workflow, handles countersigning (`sign: all` waits for
every signer on `approve`, `sign: sequence` takes them in grant order, and any other decision by a
signer ends the round at once), then leaves the old state (closing its tasks, cancelling the
reminders that no longer apply) and enters the new one (opening its task with a due date in
working days and storing its reminders and escalation levels, planning item reminders where
`items: live`). People hear of what concerns them through notices planned here and sent by the
dispatch sweep: a task's holders when it opens (a `sequence` signer when their turn comes), and
the plan's owners when it is returned to them, with the reason. A holder of an escalation task
(see `escalations.py`) acts on the step as the step's own role would. All inside
`write_plan`'s transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.errors import ActionRefused, PermissionDenied
from engine.core.guards import PlanFacts
from engine.core.limits import check_comment, check_finite
from engine.core.planning import (
    ItemSchedule,
    PlannedTaskReminder,
    diff_reminders,
    item_reminder_kind,
    plan_item_reminders,
    plan_return_notices,
    plan_task_reminders,
    task_due_at,
    task_turn_notice,
)
from engine.core.scope import candidate_orgs
from engine.core.template.model import (
    COUNTERSIGN_TRIGGER,
    Role,
    SignMode,
    State,
    Transition,
)
from engine.service.runtime import Runtime
from engine.service.timezones import plan_timezone
from engine.service.writes import Change, WriteContext, WriteResult, owner_roles, write_plan
from engine.store import statements
from engine.store.driver import Transaction
from engine.store.statuses import ReminderStatus, TaskStatus
from engine.store.tables import Organisation, User


@dataclass(frozen=True)
class Decision:
    trigger: str
    comment: str | None
    score: float | None


def act(
    rt: Runtime,
    *,
    plan_id: int,
    trigger: str,
    actor: str | None,
    comment: str | None = None,
    score: float | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Fire `trigger` on a plan as `actor` (None: the system, for timers)."""
    check_comment("comment", comment)
    check_finite("score", score)
    decision = Decision(trigger=trigger, comment=comment, score=score)
    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": trigger, "comment": comment, "score": score},
        change=lambda ctx: _apply(ctx, decision),
        idempotency_key=idempotency_key,
        expected_version=expected_version,
    )


def _apply(ctx: WriteContext, decision: Decision) -> Change:
    plan = ctx.plan
    source = ctx.workflow.state(plan.state)
    transition, stand_in = _permit(ctx, source, decision)
    # Tasks open only on entering a state with a task, and close on leaving it: elsewhere there is
    # none to look for (or to close, below).
    task = open_task(ctx.tx, ctx.plan_id) if source.task is not None else None
    # Someone standing in through an escalation decides for the whole step: the signers of a
    # countersigned one let it become overdue, so their round does not bind the stand-in.
    if task is not None and task.sign != SignMode.ANY and ctx.user is not None and not stand_in:
        pending = _countersign(ctx, task, decision)
        if pending is not None:
            return pending
    # Only guards read the facts, which take up to three queries: a transition without guards
    # gives the machine no condition that could look at them.
    facts = plan_facts(ctx.tx, ctx.plan_id, task) if transition.guards else _NO_FACTS
    step = ctx.workflow.fire(plan.state, decision.trigger, facts)
    leave_state(ctx, step.source, decision.trigger)
    if ctx.workflow.template.is_return(step.transition):
        _notify_return(ctx, task)
    if step.transition.score_required:
        plan.assessment_score = decision.score
        plan.assessment_comment = decision.comment
    plan.state = step.dest.name
    plan.state_entered_at = ctx.now
    enter_state(ctx, step.dest)
    detail: dict[str, Any] = {}
    if decision.score is not None:
        detail["score"] = decision.score
    if stand_in is not None:
        assert source.task is not None
        detail.update(escalation_task=stand_in.task_id, as_role=source.task.role)
    return Change(
        action=decision.trigger,
        from_state=step.source.name,
        to_state=step.dest.name,
        comment=decision.comment,
        detail=detail or None,
    )


_NO_FACTS = PlanFacts(item_count=0, goal_count=0)  # never read: see `_apply`


@dataclass(frozen=True)
class StandIn:
    """The actor acts through an open escalation task, as the step's own role."""

    task_id: int


def _permit(
    ctx: WriteContext, source: State, decision: Decision
) -> tuple[Transition, StandIn | None]:
    """The transition the actor may take, and the escalation task they take it through, if any.

    A holder of an escalation task's role at its organisation may act as the step's own role
    would. That is looked up only when the actor's own roles do not allow the action, so an
    ordinary action pays no query for it, and someone allowed in their own right acts as such.
    """

    def permit(roles: Iterable[str]) -> Transition:
        return ctx.workflow.permit(
            ctx.plan.state,
            decision.trigger,
            actor_roles=frozenset(roles),
            by_system=ctx.user is None,
            comment=decision.comment,
            score=decision.score,
        )

    try:
        return permit(ctx.actor_roles), None
    except PermissionDenied:
        if source.task is None or ctx.user is None:
            raise
        escalations = ctx.tx.execute(
            statements.ESCALATIONS_AT, {"plan_id": ctx.plan_id, "org_id": ctx.user.org_id}
        )
        task_id = next((t.id for t in escalations if t.role in ctx.actor_roles), None)
        if task_id is None:
            raise
    return permit({*ctx.actor_roles, source.task.role}), StandIn(task_id)


@dataclass(frozen=True)
class OpenTask:
    id: int
    sign: str


def _countersign(ctx: WriteContext, task: OpenTask, decision: Decision) -> Change | None:
    """Record a signer's decision; return a Change while signatures are still missing."""
    assert ctx.user is not None
    signers = ctx.tx.execute(statements.SIGNERS, {"task_id": task.id}).all()
    mine = next((s for s in signers if s.user_id == ctx.user.id), None)
    if mine is None:
        if decision.trigger == COUNTERSIGN_TRIGGER:
            raise PermissionDenied(
                f"{ctx.user.username} is not among the signers of this countersigned step"
            )
        return None  # someone acting through another role: no signature involved
    if mine.decision is not None:
        assert mine.decided_at is not None
        tz = plan_timezone(ctx.rt, ctx.workflow.template)
        raise ActionRefused(
            f"you already signed this step ({mine.decision}) "
            f"on {mine.decided_at.astimezone(tz):%Y-%m-%d %H:%M}"
        )
    undecided = [s for s in signers if s.decision is None]
    if task.sign == SignMode.SEQUENCE and undecided[0].user_id != ctx.user.id:
        waiting_for = ctx.tx.get(User, undecided[0].user_id)
        name = waiting_for.name if waiting_for else "an earlier signer"
        raise ActionRefused(f"this step is signed in sequence; it is {name}'s turn first")
    ctx.tx.execute(
        statements.SIGN,
        {
            "signer_id": mine.id,
            "trigger": decision.trigger,
            "at": ctx.now,
            "note": decision.comment,
        },
    )
    if decision.trigger != COUNTERSIGN_TRIGGER or len(undecided) == 1:
        return None  # a return ends the round; the last approval completes it: fire now
    signed = len(signers) - len(undecided) + 1
    if task.sign == SignMode.SEQUENCE:
        _notify_next_turn(ctx, task, turn=signed + 1)
    return Change(
        action=decision.trigger,
        from_state=ctx.plan.state,
        to_state=ctx.plan.state,
        comment=decision.comment,
        detail={"signed": signed, "of": len(signers)},
    )


def _notify_next_turn(ctx: WriteContext, task: OpenTask, *, turn: int) -> None:
    """In a `sequence` countersign the next signer hears that it is their turn, and the notice
    of the turn just taken is dropped if it is still waiting for the sweep."""
    spec = ctx.workflow.state(ctx.plan.state).task
    assert spec is not None
    ctx.tx.execute(
        statements.CANCEL_UNSENT_TASK_NOTICES,
        {"of_task": task.id, "reason": "the signer signed before it went out"},
    )
    notice = task_turn_notice(
        plan_id=ctx.plan_id, task_id=task.id, role=spec.role, turn=turn, at=ctx.now
    )
    store_task_reminders(ctx.tx, [notice], now=ctx.now)


def _notify_return(ctx: WriteContext, task: OpenTask | None) -> None:
    """The plan's owners hear that it came back to them, and why: the return's comment, which
    the dispatcher reads at send time from this write's audit row (`returns.last_return`). The
    key carries the version this write makes, so each return has a notice of its own."""
    notices = plan_return_notices(
        plan_id=ctx.plan_id,
        version=ctx.plan.version + 1,
        task_id=task.id if task is not None else None,
        owner_roles=sorted(owner_roles(ctx.workflow.template)),
        at=ctx.now,
    )
    store_task_reminders(ctx.tx, notices, now=ctx.now)


def open_task(tx: Transaction, plan_id: int) -> OpenTask | None:
    row = tx.execute(statements.OPEN_TASK, {"plan_id": plan_id}).first()
    return OpenTask(id=row.id, sign=row.sign) if row is not None else None


def plan_facts(tx: Transaction, plan_id: int, task: OpenTask | None) -> PlanFacts:
    goals = tx.execute(statements.GOAL_FACTS, {"plan_id": plan_id}).all()
    items = tx.execute(statements.ITEM_FACTS, {"plan_id": plan_id}).all()
    touched = task is not None and (
        tx.execute(statements.ANY_DECISION, {"task_id": task.id}).first() is not None
    )
    return PlanFacts(
        item_count=len(items),
        goal_count=len(goals),
        unreported_goals=tuple(g.title for g in goals if g.actual is None),
        unreported_items=tuple(f"{i.month}月 {i.title}" for i in items if i.status is None),
        current_task_touched=touched,
    )


def leave_state(ctx: WriteContext, state: State, trigger: str) -> None:
    if state.task is not None:
        # The step's task and any escalation tasks beside it close together, and with them go
        # their nudges, overdue notices and escalation levels not carried out yet.
        ctx.tx.execute(
            statements.CLOSE_OPEN_TASKS,
            {
                "of_plan": ctx.plan_id,
                "at": ctx.now,
                "by": ctx.user.id if ctx.user else None,
                "trigger": trigger,
            },
        )
        # Every task has reminders: at least its new-task notice, which may not have gone out.
        ctx.tx.execute(statements.CANCEL_TASK_REMINDERS, {"of_plan": ctx.plan_id})
    if state.items_live:
        cancel_item_reminders(ctx.tx, ctx.plan_id)


def enter_state(ctx: WriteContext, state: State) -> None:
    if state.task is not None:
        _open_task(ctx, state)
    if state.items_live:
        plan_reminders(ctx)


@dataclass(frozen=True)
class Holders:
    """Who takes a task for a role: the organisation and its holders of the role."""

    org_id: int
    user_ids: list[int]  # in grant order


def nearest_holders(tx: Transaction, role: Role, path: Sequence[int]) -> Holders | None:
    """The nearest organisation within `role`'s scope of a plan at `path` that has holders of it.

    None when there is none: the caller says what could not be done.
    """
    candidates = list(candidate_orgs(role.scope, path))
    # One query over the plan's organisation and its ancestors, which hold every candidate; the
    # nearest candidate with a holder takes the task.
    rows = tx.execute(statements.ROLE_HOLDERS_UP, {"role": role.name, "org_id": path[0]}).all()
    org_id = next((c for c in candidates if any(r.org_id == c for r in rows)), None)
    if org_id is None:
        return None
    return Holders(org_id=org_id, user_ids=[r.user_id for r in rows if r.org_id == org_id])


def _open_task(ctx: WriteContext, state: State) -> None:
    spec = state.task
    assert spec is not None
    template = ctx.workflow.template
    role = template.roles[spec.role]
    holders = nearest_holders(ctx.tx, role, ctx.path)
    if holders is None:
        org = ctx.tx.get(Organisation, ctx.path[0])
        raise ActionRefused(
            f"nobody holds the role {spec.role} ({role.title}) for {org.name if org else '?'}, "
            f"so the step {state.title} ({state.name}) would have no one to act; grant the role "
            "first (planflow user grant)"
        )
    tz = plan_timezone(ctx.rt, template)
    due_at = task_due_at(opened_at=ctx.now, spec=spec, tz=tz, calendar=ctx.rt.calendar)
    task_id = ctx.tx.execute(
        statements.INSERT_TASK,
        {
            "plan_id": ctx.plan_id,
            "state": state.name,
            "role": spec.role,
            "org_id": holders.org_id,
            "sign": spec.sign,
            "status": TaskStatus.OPEN,
            "opened_at": ctx.now,
            "due_at": due_at,
        },
    ).scalar_one()
    if spec.sign != SignMode.ANY:
        ctx.tx.execute(
            statements.INSERT_SIGNERS,
            [
                {"task_id": task_id, "user_id": user_id, "position": position}
                for position, user_id in enumerate(holders.user_ids)
            ],
        )
    store_task_reminders(
        ctx.tx,
        plan_task_reminders(
            plan_id=ctx.plan_id,
            task_id=task_id,
            opened_at=ctx.now,
            due_at=due_at,
            spec=spec,
            tz=tz,
            calendar=ctx.rt.calendar,
        ),
        now=ctx.now,
    )


def store_task_reminders(
    tx: Transaction, planned: Sequence[PlannedTaskReminder], *, now: dt.datetime
) -> None:
    """Store task reminders as planned rows, in one executemany (as `plan_reminders` does)."""
    if not planned:
        return
    tx.execute(
        statements.INSERT_REMINDERS,
        [
            {
                "key": reminder.key,
                "plan_id": reminder.plan_id,
                "kind": reminder.kind,
                "rule_index": None,
                "item_id": None,
                "task_id": reminder.task_id,
                "recipient_role": reminder.role,
                "fire_at": reminder.fire_at,
                "status": ReminderStatus.PLANNED,
                "attempts": 0,
                "created_at": now,
            }
            for reminder in planned
        ],
    )


def plan_reminders(ctx: WriteContext) -> None:
    """Store the plan's future item reminders; rows already stored under a key are kept."""
    template = ctx.workflow.template
    items = ctx.tx.execute(statements.ITEM_SCHEDULES, {"plan_id": ctx.plan_id})
    planned = plan_item_reminders(
        plan_id=ctx.plan_id,
        year=ctx.plan.year,
        rules=template.reminders,
        items=[
            ItemSchedule(item_id=i.id, month=i.month, due_day=i.due_day, title=i.title)
            for i in items
        ],
        tz=plan_timezone(ctx.rt, template),
        calendar=ctx.rt.calendar,
    )
    existing = {
        r.key: r
        for r in ctx.tx.execute(statements.REMINDER_KEYS, {"plan_id": ctx.plan_id})
        if r.item_id is not None
    }
    to_add, obsolete = diff_reminders(set(existing), planned)
    kinds = [item_reminder_kind(rule) for rule in template.reminders]
    new_rows = [
        {
            "key": occurrence.key,
            "plan_id": ctx.plan_id,
            "kind": kinds[occurrence.rule_index],
            "rule_index": occurrence.rule_index,
            "item_id": occurrence.item_id,
            "recipient_role": occurrence.role,
            "fire_at": occurrence.fire_at,
            "status": ReminderStatus.PLANNED,
            "attempts": 0,
            "created_at": ctx.now,
        }
        # One already past was never due while the plan was live: nothing to catch up.
        for occurrence in to_add
        if occurrence.fire_at > ctx.now
    ]
    revived = [
        {"reminder_id": existing[occurrence.key].id}
        for occurrence in planned
        if occurrence.fire_at > ctx.now
        and occurrence.key in existing
        and existing[occurrence.key].status == ReminderStatus.CANCELLED
    ]
    if new_rows:  # one executemany: as ORM objects, these dozens of rows cost more than the rest
        ctx.tx.execute(statements.INSERT_REMINDERS, new_rows)
    if revived:
        ctx.tx.execute(statements.REVIVE_REMINDER, revived)
    if obsolete:
        ctx.tx.execute(
            statements.CANCEL_PLANNED_REMINDER,
            [{"reminder_id": existing[key].id} for key in sorted(obsolete)],
        )


def cancel_item_reminders(tx: Transaction, plan_id: int) -> None:
    tx.execute(statements.CANCEL_ITEM_REMINDERS, {"of_plan": plan_id})
