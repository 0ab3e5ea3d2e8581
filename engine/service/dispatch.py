"""Reminder dispatch: due reminders become deliveries, deliveries are sent exactly once.

Three steps, each safe to run in several processes at once (DESIGN.md §2, "Reminder dispatch"):

1. `sweep_reminders` claims due reminder rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), decides
   each at send time — too old for the catch-up window (`missed`), its `unless` condition holds,
   its task closed or its returned plan was resubmitted (`skipped`), nobody to receive it
   (`dead`) — resolves the recipients from the
   current role holders, renders the message and writes one `delivery` row per channel and
   recipient (unique key) plus outbox rows naming batches of them, all in one transaction. It
   also requeues deliveries whose lease or backoff ran out, which is what makes a lost message or
   a killed worker harmless.
2. `publish_outbox`, after that commit, hands each batch to `publish`: a Celery task in
   production, `deliver` in this very process in embedded mode.
3. `deliver` claims each delivery with a lease right before its own send (a second worker holding
   the same message finds it taken), sends it through `send`, and records the outcome in its own
   short transaction, so a worker killed mid-batch leaves only the deliveries it was sending (at
   most `delivery_concurrency` of them) to be tried again, and a slow batch never outlasts a
   lease.
   Failures retry with exponential backoff and end `dead` after `delivery_max_attempts`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from engine.core.errors import DeliveryError, first_line
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
from engine.service.directory import nearest_holders, org_path
from engine.service.returns import last_return
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.timezones import plan_timezone
from engine.service.writes import owner_roles
from engine.store import dispatch_statements as sql
from engine.store import statements
from engine.store.driver import Transaction
from engine.store.statuses import DeliveryStatus, ItemStatus, ReminderStatus, TaskStatus

log = logging.getLogger("planflow.dispatch")

Publish = Callable[[list[int]], None]
"""Hands one batch of delivery ids to whoever delivers them; raises if it cannot."""

Send = Callable[[str, Recipient, Message], None]
"""Sends a message over a channel (by name) to a recipient; raises `DeliveryError`."""

# A row of one of the dispatch statements (SQLAlchemy types rows by their exact column types).
Record = Any

OUTBOX_TOPIC = "deliver"
MESSAGE_KINDS = [kind.value for kind in ReminderKind]
MAX_BACKOFF = dt.timedelta(hours=6)
# How often, at most, a worker renews the reservation of its batch's deliveries not yet started;
# less than the margin the settings leave in a lease beyond one send (LEASE_MARGIN_SECONDS).
RENEW_RESERVATION = dt.timedelta(seconds=1)


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


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # will be tried again
    dead: int = 0
    not_claimed: int = 0  # already sent, or being sent by another worker
    late: int = 0  # sends that ended after their lease had run out (see `_record`)


# --- 1. the sweep --------------------------------------------------------------------------------


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
    session: Session
    now: dt.datetime
    plans: dict[int, Record] = field(default_factory=dict)
    items: dict[int, Record] = field(default_factory=dict)
    tasks: dict[int, Record] = field(default_factory=dict)
    signers: dict[int, list[int]] = field(default_factory=dict)
    users: dict[int, Recipient] = field(default_factory=dict)
    holders: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # at one org
    nearest: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # for a plan's org

    @property
    def connection(self) -> Connection:
        return self.session.connection()

    @cached_property
    def tx(self) -> Transaction:
        """The session's transaction, for the helpers the sweep shares with writes."""
        return Transaction.of(self.session)


def _sweep_batch(rt: Runtime) -> tuple[SweepReport, int]:
    now = rt.now()
    horizon = now - dt.timedelta(days=rt.settings.catchup_window_days)
    with rt.database.session() as session:
        connection = session.connection()
        due = connection.execute(
            sql.DUE_REMINDERS,
            {"now": now, "kinds": MESSAGE_KINDS, "limit": rt.settings.sweep_batch_size},
        ).all()
        if not due:
            return SweepReport(), 0
        batch = _Batch(rt=rt, session=session, now=now)
        _load_context(batch, due)
        updates: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        report = {"queued": 0, "skipped": 0, "missed": 0, "undeliverable": 0}
        existing = {
            row.key
            for row in connection.execute(
                sql.EXISTING_DELIVERY_KEYS, {"ids": [reminder.id for reminder in due]}
            )
        }
        for reminder in due:
            # Operator retries (attempts > 0) are sent however late: someone decided they should.
            outcome: Outcome
            if reminder.attempts == 0 and reminder.fire_at < horizon:
                outcome = ReminderStatus.MISSED, _missed_reason(rt, reminder.fire_at, now)
                rows: list[dict[str, Any]] = []
            else:
                outcome, rows = _decide_alone(batch, reminder)
            status, reason = outcome
            report[_REPORTED[status]] += 1
            updates.append(
                {
                    "reminder_id": reminder.id,
                    "new_status": status,
                    "reason": reason,
                    "sent_at": None,
                }
            )
            deliveries.extend(row for row in rows if row["key"] not in existing)
        connection.execute(sql.SET_REMINDER_STATUS, updates)
        delivery_ids = _insert_deliveries(batch, deliveries)
        _write_outbox(batch, delivery_ids)
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


def _load_context(batch: _Batch, due: Sequence[Record]) -> None:
    """Everything the claimed reminders refer to, a query per table rather than per reminder."""
    connection = batch.connection
    plan_ids = sorted({r.plan_id for r in due})
    batch.plans = {p.id: p for p in connection.execute(sql.PLANS, {"ids": plan_ids})}
    item_ids = sorted({r.item_id for r in due if r.item_id is not None})
    if item_ids:
        batch.items = {i.id: i for i in connection.execute(sql.ITEMS, {"ids": item_ids})}
    task_ids = sorted({r.task_id for r in due if r.task_id is not None})
    if task_ids:
        batch.tasks = {t.id: t for t in connection.execute(sql.TASKS, {"ids": task_ids})}
        countersigned = [t.id for t in batch.tasks.values() if t.sign != SignMode.ANY]
        if countersigned:
            for signer in connection.execute(sql.UNDECIDED_SIGNERS, {"ids": countersigned}):
                batch.signers.setdefault(signer.task_id, []).append(signer.user_id)


Outcome = tuple[ReminderStatus, str | None]


def _decide_alone(batch: _Batch, reminder: Record) -> tuple[Outcome, list[dict[str, Any]]]:
    """`_decide`, with a failure of this one reminder (a bug, data it cannot render) kept to it:
    the reminder is dead with the reason, for an operator to retry, and the batch goes on.

    A database error is not caught: the batch's transaction is lost with it, so the batch rolls
    back and the next cycle tries again (the cycle runs its other steps meanwhile).
    """
    try:
        return _decide(batch, reminder)
    except SQLAlchemyError:
        raise
    except Exception as error:
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


def _decide(batch: _Batch, reminder: Record) -> tuple[Outcome, list[dict[str, Any]]]:
    """The reminder's fate at send time, and its delivery rows if it goes out."""
    plan = batch.plans[reminder.plan_id]
    workflow = workflow_by_id(batch.rt, batch.session, plan.template_id)
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
        item = batch.items.get(reminder.item_id)
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
    batch: _Batch, reminder: Record, message: Message, user_ids: list[int]
) -> list[dict[str, Any]]:
    """One queued delivery per recipient and channel of the reminder's role."""
    settings = batch.rt.settings
    channels = settings.role_channels.get(reminder.recipient_role, settings.default_channels)
    lease_until = batch.now + dt.timedelta(seconds=settings.delivery_lease_seconds)
    return [
        {
            "key": f"{reminder.key}:{channel}:{recipient.username}",
            "reminder_id": reminder.id,
            "channel": channel,
            "user_id": user_id,
            "subject": message.subject[:200],
            "body": message.text,
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": lease_until,
            "created_at": batch.now,
        }
        for user_id, recipient in _users(batch, user_ids)
        for channel in dict.fromkeys(channels)
    ]


def _nearest_holders(batch: _Batch, role: Role, org_id: int) -> list[int]:
    """Holders of `role` for a plan of `org_id`, found as a task's are (cached for the batch)."""
    key = (role.name, org_id)
    if key not in batch.nearest:
        found = nearest_holders(batch.tx, role, org_path(batch.tx, org_id))
        batch.nearest[key] = found.user_ids if found is not None else []
    return batch.nearest[key]


def _holders(batch: _Batch, role: str, org_id: int) -> list[int]:
    """The holders of `role` at one organisation, in grant order (cached for the batch)."""
    key = (role, org_id)
    if key not in batch.holders:
        rows = batch.connection.execute(
            statements.ROLE_HOLDERS_AT, {"role": role, "org_id": org_id}
        )
        batch.holders[key] = list(dict.fromkeys(row.user_id for row in rows))
    return batch.holders[key]


def _users(batch: _Batch, user_ids: Iterable[int]) -> list[tuple[int, Recipient]]:
    wanted = list(user_ids)
    missing = [user_id for user_id in wanted if user_id not in batch.users]
    if missing:
        for user in batch.connection.execute(sql.USERS, {"ids": missing}):
            batch.users[user.id] = Recipient(
                username=user.username, name=user.name, email=user.email
            )
    return [(user_id, batch.users[user_id]) for user_id in wanted if user_id in batch.users]


def _insert_deliveries(batch: _Batch, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    return [row.id for row in batch.connection.execute(sql.INSERT_DELIVERIES, rows)]


def _write_outbox(batch: _Batch, delivery_ids: list[int]) -> None:
    size = batch.rt.settings.delivery_batch_size
    messages = [
        {
            "topic": OUTBOX_TOPIC,
            "payload": json.dumps({"deliveries": delivery_ids[start : start + size]}),
            "created_at": batch.now,
            "attempts": 0,
        }
        for start in range(0, len(delivery_ids), size)
    ]
    if messages:
        batch.connection.execute(sql.INSERT_OUTBOX, messages)


def _requeue_stale(rt: Runtime) -> SweepReport:
    """Publish again the deliveries whose lease or backoff ran out (see `STALE_DELIVERIES`)."""
    requeued = 0
    while True:
        now = rt.now()
        with rt.database.session() as session:
            connection = session.connection()
            ids = list(
                connection.execute(
                    sql.STALE_DELIVERIES, {"now": now, "limit": rt.settings.sweep_batch_size}
                ).scalars()
            )
            if not ids:
                break
            lease_until = now + dt.timedelta(seconds=rt.settings.delivery_lease_seconds)
            connection.execute(sql.REQUEUE_DELIVERIES, {"ids": ids, "lease_until": lease_until})
            _write_outbox(_Batch(rt=rt, session=session, now=now), ids)
        requeued += len(ids)
        if len(ids) < rt.settings.sweep_batch_size:
            break
    return SweepReport(requeued=requeued)


def _settle_unsettled(rt: Runtime) -> None:
    """Settle the reminders a killed worker sent but could not settle (see
    `UNSETTLED_REMINDERS`)."""
    with rt.database.session() as session:
        ids = session.connection().execute(
            sql.UNSETTLED_REMINDERS, {"limit": rt.settings.sweep_batch_size}
        )
        unsettled = set(ids.scalars())
    _settle_reminders(rt, unsettled)


# --- 2. publishing -------------------------------------------------------------------------------


def publish_outbox(rt: Runtime, publish: Publish) -> int:
    """Publish every unpublished outbox batch through `publish`; returns how many went out.

    A batch is marked published in a transaction of its own *before* `publish` runs, and unmarked
    if it fails: no transaction stays open while publishing, so an in-process `publish` can write
    (SQLite has one writer). A crash between the two loses nothing: the deliveries' lease makes
    the sweep publish them again.
    """
    published = 0
    while True:
        with rt.database.session() as session:
            connection = session.connection()
            rows = connection.execute(sql.UNPUBLISHED, {"limit": 100}).all()
            if rows:
                connection.execute(
                    sql.MARK_PUBLISHED, {"ids": [r.id for r in rows], "at": rt.now()}
                )
        if not rows:
            return published
        for position, row in enumerate(rows):
            try:
                publish(json.loads(row.payload)["deliveries"])
            except Exception as error:  # the broker is down: keep the rest for the next cycle
                log.warning(
                    "could not publish reminder deliveries (%s); %d batches wait in the outbox "
                    "and go out on a later cycle",
                    first_line(error),
                    len(rows) - position,
                )
                with rt.database.session() as session:
                    session.connection().execute(
                        sql.UNMARK_PUBLISHED,
                        {"ids": [r.id for r in rows[position:]], "error": first_line(error)},
                    )
                return published
            published += 1


def in_process(rt: Runtime, send: Send) -> Publish:
    """Embedded mode's `Publish`: deliver each batch right away, in this process."""

    def publish(delivery_ids: list[int]) -> None:
        deliver(rt, delivery_ids, send)

    return publish


# --- 3. delivering -------------------------------------------------------------------------------


def deliver(rt: Runtime, delivery_ids: Sequence[int], send: Send) -> DeliveryReport:
    """Send the given deliveries that are still waiting; idempotent, so safe to call twice.

    Each delivery is claimed right before its own send, for `delivery_lease_seconds`, which the
    settings make longer than one send can take (the channels' timeouts): a batch may take as
    long as its receiver makes it, and no lease runs out under a send that is still going. The
    deliveries this worker has yet to start stay `queued`, reserved to it for one lease, and its
    claims renew that reservation; so the sweep leaves them alone while the worker makes progress,
    and republishes them one lease after it stops (killed, stuck), never stranding one. With
    `delivery_concurrency` sends side by side, only those on the wire hold a lease.
    """
    if not delivery_ids:
        return DeliveryReport()
    lease = dt.timedelta(seconds=rt.settings.delivery_lease_seconds)
    now = rt.now()
    with rt.database.session() as session:
        connection = session.connection()
        waiting = connection.execute(
            sql.CLAIMABLE_DELIVERIES, {"ids": sorted(set(delivery_ids)), "now": now}
        ).all()
        users: dict[int, Recipient] = {}
        if waiting:
            connection.execute(
                sql.RESERVE_DELIVERIES, {"ids": [row.id for row in waiting], "until": now + lease}
            )
            users = {
                user.id: Recipient(username=user.username, name=user.name, email=user.email)
                for user in connection.execute(
                    sql.USERS, {"ids": sorted({row.user_id for row in waiting})}
                )
            }
    sends = _Sends(rt, lease, deque(waiting))

    def send_in_turn() -> list[_Outcome]:
        outcomes = []
        row = sends.record_and_claim_next(None)[1]
        while row is not None:
            recipient = users[row.user_id]
            status, reason, retry_at = _send_one(rt, row, recipient, send)
            finished = _Finished(row, recipient, status, reason, retry_at, rt.now())
            outcome, row = sends.record_and_claim_next(finished)
            assert outcome is not None  # (an outcome for every finished send)
            outcomes.append(outcome)
        return outcomes

    # Sends wait on the network (an SMTP dialogue, a robot's round trip), so a batch's sends run
    # side by side, `delivery_concurrency` at a time, each thread claiming the next in turn.
    workers = min(rt.settings.delivery_concurrency, len(waiting))
    if workers <= 1:
        outcomes = send_in_turn()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="planflow-send") as pool:
            threads = [pool.submit(send_in_turn) for _ in range(workers)]
            outcomes = [outcome for thread in threads for outcome in thread.result()]
    counts = Counter(outcome.recorded.value for outcome in outcomes if outcome.recorded)
    _settle_reminders(rt, {row.reminder_id for row in sends.claimed})
    return DeliveryReport(
        sent=counts["sent"],
        failed=counts["failed"],
        dead=counts["dead"],
        not_claimed=len(set(delivery_ids)) - len(sends.claimed),
        late=sum(outcome.late for outcome in outcomes),
    )


@dataclass(frozen=True)
class _Claimed:
    """A delivery as this worker claimed it: the batch's row (`CLAIMABLE_DELIVERIES`), with what
    the claim set."""

    id: int
    key: str
    reminder_id: int
    channel: str
    user_id: int
    subject: str
    body: str
    attempts: int  # the claim's token (see `FINISH_DELIVERY`)
    next_attempt_at: dt.datetime  # the claim's lease


@dataclass(frozen=True)
class _Finished:
    """One claimed delivery's send, done: what to record."""

    row: _Claimed
    recipient: Recipient
    status: DeliveryStatus
    reason: str | None
    retry_at: dt.datetime | None
    at: dt.datetime


@dataclass(frozen=True)
class _Outcome:
    recorded: DeliveryStatus | None  # None: a later try took the delivery over and records it
    late: bool  # the send ended after its lease had run out


class _Sends:
    """The deliveries of one batch that this worker has yet to send, claimed one at a time."""

    def __init__(self, rt: Runtime, lease: dt.timedelta, waiting: deque[Record]) -> None:
        self.rt = rt
        self.lease = lease
        self.claimed: list[_Claimed] = []
        self._waiting = waiting
        self._lock = threading.Lock()
        self._renewed_at = rt.now()  # `deliver` reserved them all just now

    def record_and_claim_next(
        self, finished: _Finished | None
    ) -> tuple[_Outcome | None, _Claimed | None]:
        """Record a send's outcome, then claim the next delivery that is still this worker's to
        send, in one transaction: the outcome commits right after its send (a worker killed now
        repeats only the posts it had in flight, never one it had recorded), and a delivery costs
        one transaction, not two. The claimed row is None once none is left.

        The claim renews the reservation of the deliveries after it, at most once a second
        (`RENEW_RESERVATION`), which keeps renewals cheap: between two claims lies at most one
        send, and the settings make a lease longer than one send's worst case by more than that
        second (`LEASE_MARGIN_SECONDS`), so the reservation never lapses while the worker
        progresses.

        This transaction is most of what a delivery costs the worker beyond its send, so it is
        kept short (benchmarks/README.md, "After issue 8"): it is a write's (`Database.write`),
        whose statements go straight to the driver's cursor, and the outcome and the first claim
        go to PostgreSQL together (`execute_together`): three round trips with BEGIN and COMMIT,
        where there were four. Only the renewal, with its `IN` list, goes through SQLAlchemy.
        """
        with self.rt.database.write() as tx:
            outcome: _Outcome | None = None
            unrecorded = [(sql.FINISH_DELIVERY, _finish_params(finished))] if finished else []
            while True:
                with self._lock:
                    waiting = self._waiting.popleft() if self._waiting else None
                    now = self.rt.now()
                    rest: list[int] = []
                    if waiting is not None and now - self._renewed_at >= RENEW_RESERVATION:
                        rest, self._renewed_at = [row.id for row in self._waiting], now
                lease_until = now + self.lease
                calls = list(unrecorded)
                if waiting is not None:
                    params = {"delivery_id": waiting.id, "now": now, "lease_until": lease_until}
                    calls.append((sql.CLAIM_DELIVERY, params))
                results = tx.execute_together(*calls)
                if unrecorded:
                    assert finished is not None
                    outcome = _record(tx, finished, recorded=results[0].rowcount)
                    unrecorded = []
                if waiting is None:
                    return outcome, None
                claim = results[-1].first()
                if rest:
                    tx.connection.execute(
                        sql.RESERVE_DELIVERIES, {"ids": rest, "until": lease_until}
                    )
                if claim is not None:  # else sent or being sent by another worker meanwhile
                    row = _Claimed(
                        **waiting._mapping,
                        attempts=claim.attempts,
                        next_attempt_at=claim.next_attempt_at,
                    )
                    with self._lock:
                        self.claimed.append(row)
                    return outcome, row


def _finish_params(finished: _Finished) -> dict[str, Any]:
    """`FINISH_DELIVERY`'s parameters for one send's outcome."""
    row, status = finished.row, finished.status
    return {
        "delivery_id": row.id,
        "attempt": row.attempts,
        "new_status": status,
        "sent_at": finished.at if status == DeliveryStatus.SENT else None,
        "retry_at": finished.retry_at or finished.at,
        "reason": finished.reason,
    }


def _record(tx: Transaction, finished: _Finished, *, recorded: int) -> _Outcome:
    """What became of one send's outcome, once `FINISH_DELIVERY` ran (`recorded`: its row count).

    An outcome that comes after its claim's lease ran out (a send slower than the settings allow
    for) is recorded too, not dropped:
    - if nobody has claimed the delivery since (still `sending`, or `queued` again by the sweep
      with its message in flight), the claim's `attempts` still match and it is recorded as
      usual; the republished message then finds nothing to send;
    - if a later claim took it over, that try is on the wire or done, and records its own outcome.
      This send's "sent" is recorded all the same (`RECORD_LATE_SEND`), over whatever the later
      try recorded or will record: the message did reach the receiver, so a failure of the later
      try must not send it a third time after its backoff, and once `sent` no outcome changes it.
      This send's failure, though, is dropped with a log line: the later try has the last word.
    The one repeat that remains is the later try itself, which started before this outcome was
    known; it carries the same key, so the receiver can drop it.
    """
    row, status, username = finished.row, finished.status, finished.recipient.username
    late = finished.at > row.next_attempt_at  # (the claim returned its lease's end)
    if recorded:
        if late:
            log.warning(
                "delivery #%d to %s: try %d ended (%s) after its lease ran out; recorded, since "
                "nobody had taken the delivery over",
                row.id,
                username,
                row.attempts,
                status.value,
            )
        return _Outcome(status, late=late)
    if status == DeliveryStatus.SENT:
        note = (
            f"try {row.attempts} was sent after its lease ran out, while a later try had taken "
            "the delivery over"
        )
        taken = tx.execute(
            sql.RECORD_LATE_SEND,
            {"delivery_id": row.id, "sent_at": finished.at, "reason": note},
        ).rowcount
        if taken:
            log.warning("delivery #%d to %s: %s", row.id, username, note)
            return _Outcome(DeliveryStatus.SENT, late=True)
        log.warning(
            "delivery #%d to %s was sent twice (key %s): try %d outlasted its lease and a later "
            "try sent it as well",
            row.id,
            username,
            row.key,
            row.attempts,
        )
        return _Outcome(None, late=True)
    log.warning(
        "delivery #%d to %s: try %d ended (%s) after its lease ran out and a later try took the "
        "delivery over; that try records its own outcome",
        row.id,
        username,
        row.attempts,
        status.value,
    )
    return _Outcome(None, late=True)


def _send_one(
    rt: Runtime, row: _Claimed, recipient: Recipient, send: Send
) -> tuple[DeliveryStatus, str | None, dt.datetime | None]:
    """(status, reason, when to try again) after one attempt to send `row`."""
    try:
        send(row.channel, recipient, Message(subject=row.subject, text=row.body, key=row.key))
    except DeliveryError as error:
        reason = f"try {row.attempts}: {error.message}"
        if not error.retryable or row.attempts >= rt.settings.delivery_max_attempts:
            log.error("delivery #%d to %s gave up: %s", row.id, recipient.username, reason)
            return DeliveryStatus.DEAD, reason, None
        backoff = dt.timedelta(seconds=rt.settings.retry_backoff_seconds * 2 ** (row.attempts - 1))
        log.warning("delivery #%d to %s failed, will retry: %s", row.id, recipient.username, reason)
        return DeliveryStatus.FAILED, reason, rt.now() + min(backoff, MAX_BACKOFF)
    return DeliveryStatus.SENT, None, None


def _settle_reminders(rt: Runtime, reminder_ids: set[int]) -> None:
    """A reminder is sent once all its deliveries are, dead once one of them is and none waits."""
    if not reminder_ids:
        return
    with rt.database.session() as session:
        connection = session.connection()
        statuses: dict[int, set[str]] = defaultdict(set)
        for row in connection.execute(sql.DELIVERY_STATUSES, {"ids": sorted(reminder_ids)}):
            statuses[row.reminder_id].add(row.status)
        updates = []
        for reminder_id, seen in statuses.items():
            if seen == {DeliveryStatus.SENT}:
                status, reason = ReminderStatus.SENT, None
            elif seen <= {DeliveryStatus.SENT, DeliveryStatus.DEAD}:
                status, reason = ReminderStatus.DEAD, "some deliveries gave up; see its deliveries"
            elif DeliveryStatus.FAILED in seen:
                status, reason = ReminderStatus.FAILED, "some deliveries are being retried"
            else:
                continue  # still being sent
            sent_at = rt.now() if status == ReminderStatus.SENT else None
            updates.append(
                {
                    "reminder_id": reminder_id,
                    "new_status": status,
                    "reason": reason,
                    "sent_at": sent_at,
                }
            )
        if updates:
            connection.execute(sql.SET_REMINDER_STATUS, updates)
