"""The sweep: due reminders become deliveries and outbox batches, one transaction per batch.

`sweep_reminders` claims due reminder rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
sweepers take disjoint rows), decides each at send time — too old for the catch-up window
(`missed`), its `unless` condition holds, its task closed or its returned plan was resubmitted
(`skipped`), nobody to receive it (`dead`) — resolves the recipients from the current role
holders, renders the message and writes one delivery per channel and recipient (unique key) plus
outbox batches naming them, all in one transaction. It also settles reminders a killed worker
left behind and requeues deliveries whose lease or backoff ran out, which is what makes a lost
message or a killed worker harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import first_line
from engine.core.messages import (
    Audience,
    ItemFacts,
    Message,
    Recipient,
    ReminderFacts,
    ReminderKind,
    ReturnFacts,
    TaskFacts,
    render,
)
from engine.core.planning import item_due_date
from engine.core.template.model import Role, SignMode
from engine.service.directory import nearest_holders
from engine.service.dispatch.deliver import settle_reminders
from engine.service.dispatch.outbox import Publish, publish_outbox
from engine.service.returns import last_return
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.timezones import plan_timezone
from engine.service.writes import owner_roles
from engine.store import Database, Transaction
from engine.store.deliveries import (
    NewDelivery,
    existing_delivery_keys,
    insert_deliveries,
    recipients,
    requeue_deliveries,
    stale_deliveries,
)
from engine.store.due import (
    DueItem,
    DuePlan,
    DueReminder,
    DueTask,
    ReminderOutcome,
    due_reminders,
    reminder_items,
    reminder_plans,
    reminder_tasks,
    set_reminder_outcomes,
    undecided_signers,
    unsettled_reminders,
)
from engine.store.outbox import add_delivery_batches
from engine.store.people import org_path, role_holders_at
from engine.store.statuses import ItemStatus, ReminderStatus, TaskStatus

log = logging.getLogger("planflow.dispatch")

MESSAGE_KINDS = [kind.value for kind in ReminderKind]


@dataclass(frozen=True)
class SweepReport:
    queued: int = 0  # reminders turned into deliveries
    deliveries: int = 0  # delivery rows written
    skipped: int = 0  # `unless` held, or the task had closed
    missed: int = 0  # older than the catch-up window
    undeliverable: int = 0  # nobody could receive them: dead
    requeued: int = 0  # deliveries published again after a lost message, a crash or a backoff
    published: int = 0  # outbox batches handed to `publish` during the sweep

    def __add__(self, other: SweepReport) -> SweepReport:
        return SweepReport(*(a + b for a, b in zip(_counts(self), _counts(other), strict=True)))


def _counts(report: SweepReport) -> tuple[int, ...]:
    return (
        report.queued,
        report.deliveries,
        report.skipped,
        report.missed,
        report.undeliverable,
        report.requeued,
        report.published,
    )


def sweep_reminders(rt: Runtime, publish: Publish | None = None) -> SweepReport:
    """Turn every due reminder into deliveries, one transaction per batch, then settle reminders
    a killed worker left behind and requeue stale deliveries. Returns what happened, summed over
    the batches.

    With `publish`, each batch's outbox is published as soon as it commits, so that workers send
    the first reminders of a busy morning while the sweep is still writing the rest.
    """
    total = SweepReport()
    while True:
        batch, claimed = _sweep_batch(rt)
        total += batch
        if publish is not None and batch.deliveries:
            total += SweepReport(published=publish_outbox(rt, publish))
        if claimed < rt.settings.sweep_batch_size:
            break
    _settle_unsettled(rt)
    return total + _requeue_stale(rt)


@dataclass
class _Batch:
    """What one sweep transaction learns once and uses for every reminder it claimed."""

    rt: Runtime
    tx: Transaction
    now: dt.datetime
    plans: dict[int, DuePlan] = field(default_factory=dict)
    items: dict[int, DueItem] = field(default_factory=dict)
    tasks: dict[int, DueTask] = field(default_factory=dict)
    signers: dict[int, list[int]] = field(default_factory=dict)
    users: dict[int, Recipient] = field(default_factory=dict)
    holders: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # at one org
    nearest: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # for a plan's org


def _sweep_batch(rt: Runtime) -> tuple[SweepReport, int]:
    now = rt.now()
    horizon = now - dt.timedelta(days=rt.settings.catchup_window_days)
    with rt.database.transaction() as tx:
        due = due_reminders(tx, now=now, kinds=MESSAGE_KINDS, limit=rt.settings.sweep_batch_size)
        if not due:
            return SweepReport(), 0
        batch = _Batch(rt=rt, tx=tx, now=now)
        _load_context(batch, due)
        outcomes: list[ReminderOutcome] = []
        deliveries: list[NewDelivery] = []
        report = {"queued": 0, "skipped": 0, "missed": 0, "undeliverable": 0}
        existing = existing_delivery_keys(tx, reminder_ids=[reminder.id for reminder in due])
        for reminder in due:
            # Operator retries (attempts > 0) are sent however late: someone decided they should.
            outcome: Outcome
            if reminder.attempts == 0 and reminder.fire_at < horizon:
                outcome = ReminderStatus.MISSED, _missed_reason(rt, reminder.fire_at, now)
                rows: list[NewDelivery] = []
            else:
                outcome, rows = _decide_alone(batch, reminder)
            status, reason = outcome
            report[_REPORTED[status]] += 1
            outcomes.append(ReminderOutcome(reminder_id=reminder.id, status=status, reason=reason))
            deliveries.extend(row for row in rows if row.key not in existing)
        set_reminder_outcomes(tx, outcomes=outcomes)
        delivery_ids = insert_deliveries(tx, deliveries=deliveries)
        add_delivery_batches(
            tx, delivery_ids=delivery_ids, batch_size=rt.settings.delivery_batch_size, at=now
        )
    return (
        SweepReport(
            queued=report["queued"],
            deliveries=len(delivery_ids),
            skipped=report["skipped"],
            missed=report["missed"],
            undeliverable=report["undeliverable"],
        ),
        len(due),
    )


_REPORTED = {
    ReminderStatus.QUEUED: "queued",
    ReminderStatus.SKIPPED: "skipped",
    ReminderStatus.CANCELLED: "skipped",
    ReminderStatus.MISSED: "missed",
    ReminderStatus.DEAD: "undeliverable",
}


def _missed_reason(rt: Runtime, fire_at: dt.datetime, now: dt.datetime) -> str:
    tz = rt.default_timezone
    return (
        f"due {fire_at.astimezone(tz):%Y-%m-%d %H:%M}, more than "
        f"{rt.settings.catchup_window_days} days before dispatch ran again at "
        f"{now.astimezone(tz):%Y-%m-%d %H:%M} (PLANFLOW_CATCHUP_WINDOW_DAYS); "
        "retry it with `planflow reminders retry` if it should still go out"
    )


def _load_context(batch: _Batch, due: list[DueReminder]) -> None:
    """Everything the claimed reminders refer to, a query per table rather than per reminder."""
    tx = batch.tx
    batch.plans = reminder_plans(tx, plan_ids=[r.plan_id for r in due])
    batch.items = reminder_items(tx, item_ids=[r.item_id for r in due])
    batch.tasks = reminder_tasks(tx, task_ids=[r.task_id for r in due])
    countersigned = [t.id for t in batch.tasks.values() if t.sign != SignMode.ANY]
    if countersigned:
        batch.signers = undecided_signers(tx, task_ids=countersigned)


Outcome = tuple[ReminderStatus, str | None]


def _decide_alone(batch: _Batch, reminder: DueReminder) -> tuple[Outcome, list[NewDelivery]]:
    """`_decide`, with a failure of this one reminder (a bug, data it cannot render) kept to it:
    the reminder is dead with the reason, for an operator to retry, and the batch goes on.

    A database error is not caught: the batch's transaction is lost with it, so the batch rolls
    back and the next cycle tries again (the cycle runs its other steps meanwhile).
    """
    try:
        return _decide(batch, reminder)
    except Exception as error:
        if Database.is_database_error(error):
            raise
        problem = f"{type(error).__name__}: {first_line(error)}"
        log.exception(
            "reminder #%d of plan #%d could not be prepared: %s",
            reminder.id,
            reminder.plan_id,
            problem,
        )
        reason = (
            f"could not be prepared ({problem}); once that is fixed, "
            f"`planflow reminders retry {reminder.id}`"
        )
        return (ReminderStatus.DEAD, reason), []


def _decide(batch: _Batch, reminder: DueReminder) -> tuple[Outcome, list[NewDelivery]]:
    """The reminder's fate at send time, and its delivery rows if it goes out."""
    plan = batch.plans[reminder.plan_id]
    workflow = workflow_by_id(batch.rt, batch.tx, plan.template_id)
    template = workflow.template
    kind = ReminderKind(reminder.kind)
    tz = plan_timezone(batch.rt, template)
    role = template.roles.get(reminder.recipient_role)
    role_title = role.title if role else reminder.recipient_role
    facts: dict[str, Any] = {
        "kind": kind,
        "org_name": plan.org_name,
        "plan_title": plan.title,
        "recipient_role_title": role_title,
        "tz": tz,
    }
    if kind is ReminderKind.PLAN_RETURNED:
        # To the plan's owners, while it still waits in draft because of this very return (the
        # notice is planned at the return's moment; see `returns.last_return`).
        returned = last_return(batch.tx, plan_id=plan.id, state=plan.state, workflow=workflow)
        if returned is None or returned.at != reminder.fire_at:
            return (ReminderStatus.SKIPPED, "the plan was resubmitted before it went out"), []
        facts["returned"] = ReturnFacts(
            step_title=returned.step_title,
            returned_by=returned.by,
            at=returned.at,
            reason=returned.reason,
        )
        user_ids = _nearest_holders(batch, role, plan.org_id) if role is not None else []
        where = plan.org_name
    elif reminder.task_id is not None:
        task = batch.tasks.get(reminder.task_id)
        if task is None or task.status != TaskStatus.OPEN:
            return (ReminderStatus.SKIPPED, "the task was closed before the reminder was due"), []
        # (An escalation task carries the overdue task's due time; a new task may have none.)
        if task.due_at is None and kind is not ReminderKind.TASK_OPENED:
            return (ReminderStatus.SKIPPED, "the task has no due time to remind of"), []
        facts["task"] = TaskFacts(step_title=workflow.state(task.state).title, due=task.due_at)
        if task.sign != SignMode.ANY:
            user_ids = batch.signers.get(task.id, [])
            if task.sign == SignMode.SEQUENCE:
                user_ids = user_ids[:1]  # only the signer whose turn it is can act
        else:
            user_ids = _holders(batch, task.role, task.org_id)
        where = f"organisation #{task.org_id}"
    else:
        item = batch.items.get(reminder.item_id) if reminder.item_id is not None else None
        if item is None:
            return (ReminderStatus.CANCELLED, "the monthly item no longer exists"), []
        if not workflow.state(plan.state).items_live:
            return (ReminderStatus.CANCELLED, f"the plan is no longer live ({plan.state})"), []
        rule = template.reminders[reminder.rule_index]
        if rule.unless == "item_done" and item.status == ItemStatus.DONE:
            return (ReminderStatus.SKIPPED, "the item was reported done"), []
        facts["item"] = ItemFacts(
            month=item.month,
            title=item.title,
            due=item_due_date(plan.year, item.month, item.due_day),
        )
        if reminder.recipient_role not in owner_roles(template):
            facts["audience"] = Audience.SUPERVISOR
        user_ids = _nearest_holders(batch, role, plan.org_id) if role is not None else []
        where = plan.org_name
    if not user_ids:
        return (
            ReminderStatus.DEAD,
            f"nobody holds the role {reminder.recipient_role} ({role_title}) for {where}; grant "
            "it (planflow user grant), then `planflow reminders retry`",
        ), []
    message = render(ReminderFacts(**facts))
    return (ReminderStatus.QUEUED, None), _delivery_rows(batch, reminder, message, user_ids)


def _delivery_rows(
    batch: _Batch, reminder: DueReminder, message: Message, user_ids: list[int]
) -> list[NewDelivery]:
    """One queued delivery per recipient and channel of the reminder's role."""
    settings = batch.rt.settings
    channels = settings.role_channels.get(reminder.recipient_role, settings.default_channels)
    lease_until = batch.now + dt.timedelta(seconds=settings.delivery_lease_seconds)
    subject = message.subject[:200]
    return [
        NewDelivery(
            key=f"{reminder.key}:{channel}:{recipient.username}",
            reminder_id=reminder.id,
            channel=channel,
            user_id=user_id,
            subject=subject,
            body=message.text,
            next_attempt_at=lease_until,
            created_at=batch.now,
        )
        for user_id, recipient in _users(batch, user_ids)
        for channel in dict.fromkeys(channels)
    ]


def _nearest_holders(batch: _Batch, role: Role, org_id: int) -> list[int]:
    """Holders of `role` for a plan of `org_id`, found as a task's are (cached for the batch)."""
    key = (role.name, org_id)
    if key not in batch.nearest:
        found = nearest_holders(batch.tx, role, org_path(batch.tx, org_id=org_id))
        batch.nearest[key] = found.user_ids if found is not None else []
    return batch.nearest[key]


def _holders(batch: _Batch, role: str, org_id: int) -> list[int]:
    """The holders of `role` at one organisation, in grant order (cached for the batch)."""
    key = (role, org_id)
    if key not in batch.holders:
        found = role_holders_at(batch.tx, role=role, org_id=org_id)
        batch.holders[key] = list(dict.fromkeys(found))
    return batch.holders[key]


def _users(batch: _Batch, user_ids: list[int]) -> list[tuple[int, Recipient]]:
    missing = [user_id for user_id in user_ids if user_id not in batch.users]
    if missing:
        batch.users.update(recipients(batch.tx, user_ids=missing))
    return [(user_id, batch.users[user_id]) for user_id in user_ids if user_id in batch.users]


def _requeue_stale(rt: Runtime) -> SweepReport:
    """Publish again the deliveries whose lease or backoff ran out (`stale_deliveries`)."""
    requeued = 0
    limit = rt.settings.sweep_batch_size
    while True:
        now = rt.now()
        with rt.database.transaction() as tx:
            ids = stale_deliveries(tx, now=now, limit=limit)
            if not ids:
                break
            lease_until = now + dt.timedelta(seconds=rt.settings.delivery_lease_seconds)
            requeue_deliveries(tx, delivery_ids=ids, lease_until=lease_until)
            add_delivery_batches(
                tx, delivery_ids=ids, batch_size=rt.settings.delivery_batch_size, at=now
            )
        requeued += len(ids)
        if len(ids) < limit:
            break
    return SweepReport(requeued=requeued)


def _settle_unsettled(rt: Runtime) -> None:
    """Settle the reminders a killed worker sent but could not settle (`unsettled_reminders`)."""
    with rt.database.read() as tx:
        unsettled = unsettled_reminders(tx, limit=rt.settings.sweep_batch_size)
    settle_reminders(rt, set(unsettled))
