"""Operators' use cases for reminders: list them with their deliveries, retry what did not go out.

A reminder that gave up (`dead`), is still retrying (`failed`) or was `missed` after downtime is
never retried by itself beyond its delivery attempts; an operator looks at `list_reminders` and
calls `retry_reminder` (or `retry_dead` for all dead ones). A retry only puts rows back where the
regular sweep picks them up — failed deliveries due now, or the reminder planned again — so the
message goes out through the same code, exactly once, as any other. Each retry is one write on the
reminder's plan through `write_plan`, so it lands with its audit row ("retry_reminder") or not at
all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, col, select

from engine.core.errors import ActionRefused, InputError, NotFound, PlanflowError, Problem
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.writes import Change, WriteContext, write_plan
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import Delivery, MonthlyItem, Organisation, Plan, Reminder, Task, User

RETRY_ACTION = "retry_reminder"
RETRYABLE = frozenset({ReminderStatus.DEAD, ReminderStatus.FAILED, ReminderStatus.MISSED})
# Why a reminder in another status cannot be retried, in words an operator can act on.
_NOT_RETRYABLE = {
    ReminderStatus.PLANNED: "it has not fired yet",
    ReminderStatus.QUEUED: "it is being delivered now",
    ReminderStatus.SENT: "it was delivered",
    ReminderStatus.CANCELLED: "it no longer applies (the plan moved on or the item changed)",
    ReminderStatus.SKIPPED: "its item was already done when it fired",
}
_STUCK = (DeliveryStatus.DEAD, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class DeliveryView:
    id: int
    channel: str
    recipient: str  # username
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class ReminderView:
    id: int
    plan_id: int
    org_name: str
    kind: str
    recipient_role: str
    fire_at: dt.datetime
    status: str
    attempts: int  # operator retries so far
    last_error: str | None
    deliveries: tuple[DeliveryView, ...]
    about: str = ""  # what it is about in words: "3月 春季运动会", "task #4 镇工会审核"
    item: ItemRef | None = None  # the monthly item it is about, if any
    task: TaskRef | None = None  # the task it is about, if any


@dataclass(frozen=True)
class ItemRef:
    id: int
    month: int
    title: str


@dataclass(frozen=True)
class TaskRef:
    id: int
    state: str
    state_title: str
    role: str


@dataclass(frozen=True)
class RetryOutcome:
    reminder_id: int
    plan_id: int
    from_status: str
    to_status: str  # what the reminder became; == from_status when `error` is set
    deliveries: int  # deliveries sent again; 0 when the reminder itself is planned again
    reason: str | None = None  # why it had not gone out (its `last_error` before the retry)
    error: str | None = None  # set by `retry_dead` when this one could not be retried


def list_reminders(
    rt: Runtime, *, status: str | None = None, plan_id: int | None = None, limit: int = 200
) -> list[ReminderView]:
    """Reminders by fire time (then id), optionally of one status or plan, with their deliveries."""
    if status is not None and status not in set(ReminderStatus):
        known = ", ".join(ReminderStatus)
        problem = f"unknown status {status!r}; use one of {known}"
        raise InputError([Problem("status", 0, 0, problem)])
    if limit < 1:
        raise InputError([Problem("limit", 0, 0, f"limit must be at least 1, not {limit}")])
    with rt.database.session() as session:
        if plan_id is not None and session.get(Plan, plan_id) is None:
            raise NotFound(f"no plan #{plan_id}")
        query = (
            select(Reminder, Organisation.name, Plan.template_id)
            .join(Plan, col(Plan.id) == Reminder.plan_id)
            .join(Organisation, col(Organisation.id) == Plan.org_id)
        )
        if status is not None:
            query = query.where(Reminder.status == status)
        if plan_id is not None:
            query = query.where(Reminder.plan_id == plan_id)
        rows = session.exec(query.order_by(col(Reminder.fire_at), col(Reminder.id)).limit(limit))
        reminders = list(rows)
        deliveries = _deliveries(session, [r.id for r, *_ in reminders if r.id is not None])
        items = _by_id(session, MonthlyItem, {r.item_id for r, *_ in reminders})
        tasks = _by_id(session, Task, {r.task_id for r, *_ in reminders})
        states = {
            template_id: workflow_by_id(rt, session, template_id).template.states
            for template_id in {template_id for *_, template_id in reminders}
        }
    views = []
    for reminder, org_name, template_id in reminders:
        item_ref = task_ref = None
        item = items.get(reminder.item_id) if reminder.item_id is not None else None
        if item is not None:
            item_ref = ItemRef(id=reminder.item_id or 0, month=item.month, title=item.title)
        task = tasks.get(reminder.task_id) if reminder.task_id is not None else None
        if task is not None:
            state = states[template_id].get(task.state)
            task_ref = TaskRef(
                id=reminder.task_id or 0,
                state=task.state,
                state_title=state.title if state is not None else task.state,
                role=task.role,
            )
        views.append(_view(reminder, org_name, deliveries, item_ref, task_ref))
    return views


Row = TypeVar("Row", MonthlyItem, Task)


def _by_id(session: Session, table: type[Row], ids: set[int | None]) -> dict[int, Row]:
    """The rows of `table` with these ids (the items and tasks the listed reminders are about)."""
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {
        row.id: row
        for row in session.exec(select(table).where(col(table.id).in_(wanted)))
        if row.id is not None
    }


def _about(reminder: Reminder, item: ItemRef | None, task: TaskRef | None) -> str:
    if item is not None:
        return f"{item.month}月 {item.title}"
    if task is not None:
        return f"task #{task.id} {task.state_title}"
    if reminder.kind.startswith("item_"):
        return "a removed item (see its reason)"
    return ""


def _view(
    reminder: Reminder,
    org_name: str,
    deliveries: dict[int, list[DeliveryView]],
    item: ItemRef | None,
    task: TaskRef | None,
) -> ReminderView:
    return ReminderView(
        id=reminder.id or 0,
        plan_id=reminder.plan_id,
        org_name=org_name,
        kind=reminder.kind,
        recipient_role=reminder.recipient_role,
        fire_at=reminder.fire_at,
        status=reminder.status,
        attempts=reminder.attempts,
        last_error=reminder.last_error,
        deliveries=tuple(deliveries.get(reminder.id or 0, ())),
        about=_about(reminder, item, task),
        item=item,
        task=task,
    )


def _deliveries(session: Session, reminder_ids: list[int]) -> dict[int, list[DeliveryView]]:
    if not reminder_ids:
        return {}
    found: dict[int, list[DeliveryView]] = {}
    rows = session.exec(
        select(Delivery, User.username)
        .join(User, col(User.id) == Delivery.user_id)
        .where(col(Delivery.reminder_id).in_(reminder_ids))
        .order_by(col(Delivery.id))
    )
    for delivery, username in rows:
        found.setdefault(delivery.reminder_id, []).append(
            DeliveryView(
                id=delivery.id or 0,
                channel=delivery.channel,
                recipient=username,
                status=delivery.status,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                last_error=delivery.last_error,
                sent_at=delivery.sent_at,
            )
        )
    return found


def retry_reminder(rt: Runtime, reminder_id: int, *, actor: str | None = None) -> RetryOutcome:
    """Send a dead, failed or missed reminder again at the next sweep, with an audit row.

    Its dead and failed deliveries become failed with no attempts used, due now; a reminder with
    no deliveries (nobody could receive it, or it was missed) is planned again with one more
    retry counted, which also tells the sweep not to mark it missed a second time. `actor` is the
    operator's username for the audit log (None: the system); like any write, it must reach the
    plan.
    """
    with rt.database.session() as session:
        reminder = session.get(Reminder, reminder_id)
        if reminder is None:
            raise NotFound(f"no reminder #{reminder_id}; `planflow reminders list` shows them")
        plan_id = reminder.plan_id
    done: list[RetryOutcome] = []

    def retried(ctx: WriteContext) -> Change:
        outcome = _retry(ctx.session, reminder_id, plan_id, ctx.now)
        done.append(outcome)
        return Change(
            action=RETRY_ACTION,
            from_state=ctx.plan.state,
            to_state=ctx.plan.state,
            detail={
                "reminder": reminder_id,
                "from": outcome.from_status,
                "to": outcome.to_status,
                "deliveries": outcome.deliveries,
                "reason": outcome.reason,
            },
        )

    write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": RETRY_ACTION, "reminder": reminder_id},
        change=retried,
    )
    return done[0]


def retry_dead(rt: Runtime, *, actor: str | None = None) -> list[RetryOutcome]:
    """Retry every dead reminder, each in its own transaction; one that moved on is reported."""
    with rt.database.session() as session:
        dead = list(
            session.exec(
                select(Reminder.id, Reminder.plan_id)
                .where(Reminder.status == ReminderStatus.DEAD)
                .order_by(col(Reminder.fire_at), col(Reminder.id))
            )
        )
    outcomes: list[RetryOutcome] = []
    for reminder_id, plan_id in dead:
        assert reminder_id is not None
        try:
            outcomes.append(retry_reminder(rt, reminder_id, actor=actor))
        except PlanflowError as error:  # retried or changed meanwhile: say so, go on
            outcomes.append(
                RetryOutcome(
                    reminder_id=reminder_id,
                    plan_id=plan_id,
                    from_status=ReminderStatus.DEAD,
                    to_status=ReminderStatus.DEAD,
                    deliveries=0,
                    error=error.message,
                )
            )
    return outcomes


def _retry(session: Session, reminder_id: int, plan_id: int, now: dt.datetime) -> RetryOutcome:
    # Both locked (PostgreSQL; SQLite's write lock already serialises): a worker settling the
    # reminder from its deliveries' outcomes meanwhile waits, then sees what the retry did.
    deliveries = list(
        session.exec(
            select(Delivery)
            .where(Delivery.reminder_id == reminder_id)
            .order_by(col(Delivery.id))
            .with_for_update()
        )
    )
    reminder = session.exec(
        select(Reminder).where(Reminder.id == reminder_id).with_for_update()
    ).one()
    before, reason = reminder.status, reminder.last_error
    if before not in RETRYABLE:
        why = _NOT_RETRYABLE.get(ReminderStatus(before), "")
        raise ActionRefused(
            f"reminder #{reminder_id} is {before}{f': {why}' if why else ''}; only dead, failed "
            "or missed reminders can be retried"
        )
    stuck = [d for d in deliveries if d.status in _STUCK]
    if deliveries and not stuck:
        states = ", ".join(sorted({d.status for d in deliveries}))
        raise ActionRefused(
            f"reminder #{reminder_id} is {before} but none of its deliveries failed ({states}); "
            "nothing to retry"
        )
    for delivery in stuck:
        # The sweep republishes failed deliveries once `next_attempt_at` has passed; with the
        # attempts reset, each gets the full number of tries again.
        delivery.status = DeliveryStatus.FAILED
        delivery.attempts = 0
        delivery.next_attempt_at = now
        session.add(delivery)
    if stuck:
        reminder.status = ReminderStatus.FAILED
    else:
        reminder.status = ReminderStatus.PLANNED
        reminder.attempts += 1
    reminder.last_error = None
    session.add(reminder)
    return RetryOutcome(
        reminder_id=reminder_id,
        plan_id=plan_id,
        from_status=before,
        to_status=reminder.status,
        deliveries=len(stuck),
        reason=reason,
    )
