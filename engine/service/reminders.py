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
from collections.abc import Collection
from dataclasses import dataclass

from engine.core.errors import ActionRefused, InputError, NotFound, PlanflowError, Problem
from engine.core.i18n import Message
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.writes import Change, WriteContext, write_plan
from engine.store import Transaction
from engine.store.due import reminder_items, reminder_tasks
from engine.store.reminder_admin import (
    ListedDelivery,
    ListedReminder,
    dead_reminders,
    listed_deliveries,
    listed_reminders,
    lock_for_retry,
    plan_exists,
    plan_org,
    reminder_plan,
    retry_deliveries,
    set_retried,
)
from engine.store.statuses import DeliveryStatus, ReminderStatus

RETRY_ACTION = "retry_reminder"
RETRYABLE = frozenset({ReminderStatus.DEAD, ReminderStatus.FAILED, ReminderStatus.MISSED})
# Why a reminder in another status cannot be retried, in words an operator can act on.
_NOT_RETRYABLE = {
    ReminderStatus.PLANNED: Message.of("it has not fired yet"),
    ReminderStatus.QUEUED: Message.of("it is being delivered now"),
    ReminderStatus.SENT: Message.of("it was delivered"),
    ReminderStatus.CANCELLED: Message.of(
        "it no longer applies (the plan moved on or the item changed)"
    ),
    ReminderStatus.SKIPPED: Message.of("its item was already done when it fired"),
}
_STUCK = frozenset({DeliveryStatus.DEAD, DeliveryStatus.FAILED})


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
    deliveries: tuple[ListedDelivery, ...]
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
    rt: Runtime,
    *,
    status: str | None = None,
    plan_id: int | None = None,
    limit: int = 200,
    org_ids: Collection[int] | None = None,
) -> list[ReminderView]:
    """Reminders by fire time (then id), optionally of one status or plan, with their deliveries;
    with `org_ids`, only those of these organisations' plans (a plan of another is unknown)."""
    if status is not None and status not in set(ReminderStatus):
        known = ", ".join(ReminderStatus)
        raise _refused_filter(
            "status",
            Message.of("unknown status '{value}'; use one of {known}", value=status, known=known),
        )
    if limit < 1:
        raise _refused_filter(
            "limit", Message.of("limit must be at least 1, not {value}", value=limit)
        )
    with rt.database.read() as tx:
        if plan_id is not None and not plan_exists(tx, plan_id=plan_id):
            raise no_plan(plan_id)
        if (
            plan_id is not None
            and org_ids is not None
            and plan_org(tx, plan_id=plan_id) not in org_ids
        ):
            raise no_plan(plan_id)
        reminders = listed_reminders(
            tx, status=status, plan_id=plan_id, limit=limit, org_ids=org_ids
        )
        deliveries = listed_deliveries(tx, reminder_ids=[r.id for r in reminders])
        items = reminder_items(tx, item_ids=[r.item_id for r in reminders])
        tasks = reminder_tasks(tx, task_ids=[r.task_id for r in reminders])
        states = {
            template_id: workflow_by_id(rt, tx, template_id).template.states
            for template_id in {r.template_id for r in reminders}
        }
    views = []
    for reminder in reminders:
        item_ref = task_ref = None
        item = items.get(reminder.item_id) if reminder.item_id is not None else None
        if item is not None:
            item_ref = ItemRef(id=item.id, month=item.month, title=item.title)
        task = tasks.get(reminder.task_id) if reminder.task_id is not None else None
        if task is not None:
            state = states[reminder.template_id].get(task.state)
            task_ref = TaskRef(
                id=task.id,
                state=task.state,
                state_title=state.title if state is not None else task.state,
                role=task.role,
            )
        views.append(_view(reminder, deliveries.get(reminder.id, []), item_ref, task_ref))
    return views


def no_plan(plan_id: int) -> NotFound:
    return NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)


def no_reminder(reminder_id: int) -> NotFound:
    return NotFound(
        "no reminder #{reminder_id}; `planflow reminders list` shows them",
        code="reminder.not_found",
        reminder_id=reminder_id,
    )


def _refused_filter(field: str, message: Message) -> InputError:
    """A listing's filter that cannot be used, reported as the input problem of that field."""
    return InputError([Problem.of(field, 0, 0, message)])


def _about(reminder: ListedReminder, item: ItemRef | None, task: TaskRef | None) -> str:
    if item is not None:
        return f"{item.month}月 {item.title}"
    if task is not None:
        return f"task #{task.id} {task.state_title}"
    if reminder.kind.startswith("item_"):
        return "a removed item (see its reason)"
    return ""


def _view(
    reminder: ListedReminder,
    deliveries: list[ListedDelivery],
    item: ItemRef | None,
    task: TaskRef | None,
) -> ReminderView:
    return ReminderView(
        id=reminder.id,
        plan_id=reminder.plan_id,
        org_name=reminder.org_name,
        kind=reminder.kind,
        recipient_role=reminder.recipient_role,
        fire_at=reminder.fire_at,
        status=reminder.status,
        attempts=reminder.attempts,
        last_error=reminder.last_error,
        deliveries=tuple(deliveries),
        about=_about(reminder, item, task),
        item=item,
        task=task,
    )


def retry_reminder(
    rt: Runtime, reminder_id: int, *, actor: str | None = None, administered: bool = False
) -> RetryOutcome:
    """Send a dead, failed or missed reminder again at the next sweep, with an audit row.

    Its dead and failed deliveries become failed with no attempts used, due now; a reminder with
    no deliveries (nobody could receive it, or it was missed) is planned again with one more
    retry counted, which also tells the sweep not to mark it missed a second time. `actor` is the
    operator's username for the audit log (None: the system); like any write, it must reach the
    plan, unless `administered`: the caller checked that the actor administers the plan's
    organisation (`admin_reminders`), and the actor needs no role of the template.
    """
    with rt.database.read() as tx:
        plan_id = reminder_plan(tx, reminder_id=reminder_id)
    if plan_id is None:
        raise no_reminder(reminder_id)
    done: list[RetryOutcome] = []

    def retried(ctx: WriteContext) -> Change:
        outcome = _retry(ctx.tx, reminder_id, plan_id, ctx.now)
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
        administered=administered,
    )
    return done[0]


def retry_dead(
    rt: Runtime,
    *,
    actor: str | None = None,
    org_ids: Collection[int] | None = None,
    administered: bool = False,
) -> list[RetryOutcome]:
    """Retry every dead reminder (of the plans of `org_ids`, if given), each in its own
    transaction; one that moved on is reported."""
    with rt.database.read() as tx:
        dead = dead_reminders(tx, org_ids=org_ids)
    outcomes: list[RetryOutcome] = []
    for reminder in dead:
        try:
            outcomes.append(retry_reminder(rt, reminder.id, actor=actor, administered=administered))
        except PlanflowError as error:  # retried or changed meanwhile: say so, go on
            outcomes.append(
                RetryOutcome(
                    reminder_id=reminder.id,
                    plan_id=reminder.plan_id,
                    from_status=ReminderStatus.DEAD,
                    to_status=ReminderStatus.DEAD,
                    deliveries=0,
                    error=error.message,
                )
            )
    return outcomes


def _retry(tx: Transaction, reminder_id: int, plan_id: int, now: dt.datetime) -> RetryOutcome:
    # Both locked (PostgreSQL; SQLite's write lock already serialises): a worker settling the
    # reminder from its deliveries' outcomes meanwhile waits, then sees what the retry did.
    found = lock_for_retry(tx, reminder_id=reminder_id)
    assert found is not None  # (the write holds its plan, and reminders go with their plan)
    before, reason = found.status, found.last_error
    if before not in RETRYABLE:
        raise ActionRefused(
            "reminder #{reminder_id} is {state}: {why}; only dead, failed or missed reminders "
            "can be retried",
            code="reminder.not_retryable",
            reminder_id=reminder_id,
            state=before,
            why=_NOT_RETRYABLE[ReminderStatus(before)],
        )
    stuck = [status for status in found.delivery_statuses if status in _STUCK]
    if found.delivery_statuses and not stuck:
        raise ActionRefused(
            "reminder #{reminder_id} is {state} but none of its deliveries failed ({statuses}); "
            "nothing to retry",
            code="reminder.nothing_to_retry",
            reminder_id=reminder_id,
            state=before,
            statuses=", ".join(sorted(set(found.delivery_statuses))),
        )
    if stuck:
        # The sweep republishes failed deliveries once `next_attempt_at` has passed; with the
        # attempts reset, each gets the full number of tries again.
        retry_deliveries(tx, reminder_id=reminder_id, at=now)
        after, attempts = ReminderStatus.FAILED, found.attempts
    else:
        after, attempts = ReminderStatus.PLANNED, found.attempts + 1
    set_retried(tx, reminder_id=reminder_id, status=after, attempts=attempts)
    return RetryOutcome(
        reminder_id=reminder_id,
        plan_id=plan_id,
        from_status=before,
        to_status=after,
        deliveries=len(stuck),
        reason=reason,
    )
