"""What falls due next and what has gone out: the questions a replay of the scheduler asks.

`planflow simulate` moves its clock from one moment that matters to the next; between two cycles
it asks when the next planned reminder or delivery retry falls due (`next_due`) and how many
messages have gone out so far (`sent_messages`); at the end, what went out per kind. The demo asks
when the item reminders it planned fall due. The replay asks after every one of hundreds of
cycles, so those statements are built once and run on the driver's cursor.

A reminder counts as a message when it was sent and is not an escalation level: a level is
"sent" once carried out, and its `task_escalated` notice is the message that went out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import col

from engine.core.messages import ReminderKind
from engine.core.planning import TASK_ESCALATION
from engine.store.driver import Transaction
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import Delivery, OutboxMessage, Reminder


@dataclass(frozen=True)
class NextDue:
    """The earliest moments after a given one at which the scheduler's cycle has work."""

    reminder: dt.datetime | None  # a planned reminder (escalation levels included)
    delivery: dt.datetime | None  # a delivery queued, leased or waiting to be retried

    @property
    def first(self) -> dt.datetime | None:
        moments = [m for m in (self.reminder, self.delivery) if m is not None]
        return min(moments, default=None)


def next_due(tx: Transaction, *, after: dt.datetime) -> NextDue:
    """When the next reminder and the next delivery attempt fall due, strictly after `after`."""
    reminder = tx.execute(_NEXT_REMINDER, {"after": after}).scalar()
    delivery = tx.execute(_NEXT_DELIVERY, {"after": after}).scalar()
    return NextDue(reminder=reminder, delivery=delivery)


def work_due(tx: Transaction, *, now: dt.datetime) -> bool:
    """Whether the scheduler's cycle has work at `now` beyond what time alone brings (timers,
    hand-overs): a planned reminder or escalation level due by then, a delivery to send or retry,
    or an outbox batch not yet published. One statement, three indexed `EXISTS`."""
    return bool(tx.execute(_WORK_DUE, {"now": now}).scalar())


def sent_per_period(tx: Transaction, *, starts: list[dt.datetime]) -> list[int]:
    """Reminders sent (escalation levels not counted) in each period that starts at one of
    `starts` (ascending) and ends at the next; the last one ends at the last start and is not
    counted, so `starts` holds one moment more than the answer. One scan of the sent reminders."""
    if len(starts) < 2:
        return []
    period = sa.case(
        *(
            (col(Reminder.sent_at) < bindparam(f"start_{index}"), index - 1)
            for index in range(1, len(starts))
        ),
        else_=-1,
    ).label("period")
    query = (
        sa.select(period, sa.func.count())
        .where(_SENT, col(Reminder.sent_at) >= bindparam("start_0"))
        .group_by(period)
    )
    params = {f"start_{index}": start for index, start in enumerate(starts)}
    counts = [0] * (len(starts) - 1)
    for index, count in tx.execute(query, params):
        if index >= 0:
            counts[index] = count
    return counts


def sent_messages(tx: Transaction) -> int:
    """Reminders sent so far, of every plan (escalation levels not counted)."""
    count: int = tx.execute(_SENT_MESSAGES).scalar_one()
    return count


def sent_by_kind(tx: Transaction, *, plan_ids: list[int]) -> dict[ReminderKind, int]:
    """The reminders of these plans that were sent, per kind (notices such as 新的待办 included,
    escalation levels not), in `ReminderKind` order; kinds with none left out."""
    query = (
        sa.select(col(Reminder.kind), sa.func.count())
        .where(_SENT, col(Reminder.plan_id).in_(plan_ids))
        .group_by(col(Reminder.kind))
    )
    # An IN list: Core on the connection, which the driver path cannot send.
    counts = {kind: count for kind, count in tx.connection.execute(query)}
    return {kind: counts[kind] for kind in ReminderKind if counts.get(kind)}


def item_reminder_times(tx: Transaction) -> list[dt.datetime]:
    """When each item reminder falls due (task reminders and notices left out), earliest first."""
    times: list[dt.datetime] = tx.execute(_ITEM_REMINDER_TIMES).scalars()
    return times


_SENT = sa.and_(col(Reminder.status) == ReminderStatus.SENT, col(Reminder.kind) != TASK_ESCALATION)
_SENT_MESSAGES = sa.select(sa.func.count()).select_from(Reminder).where(_SENT)
_NEXT_REMINDER = sa.select(sa.func.min(col(Reminder.fire_at))).where(
    col(Reminder.status) == ReminderStatus.PLANNED, col(Reminder.fire_at) > bindparam("after")
)
_NEXT_DELIVERY = sa.select(sa.func.min(col(Delivery.next_attempt_at))).where(
    # Spelled out, not an IN list: the driver path sends no expanding IN.
    sa.or_(
        col(Delivery.status) == DeliveryStatus.QUEUED,
        col(Delivery.status) == DeliveryStatus.SENDING,
        col(Delivery.status) == DeliveryStatus.FAILED,
    ),
    col(Delivery.next_attempt_at) > bindparam("after"),
)
_DELIVERY_DUE = sa.or_(
    col(Delivery.status) == DeliveryStatus.QUEUED,
    col(Delivery.status) == DeliveryStatus.SENDING,
    col(Delivery.status) == DeliveryStatus.FAILED,
)
_WORK_DUE = sa.select(
    sa.or_(
        sa.exists().where(
            col(Reminder.status) == ReminderStatus.PLANNED,
            col(Reminder.fire_at) <= bindparam("now"),
        ),
        sa.exists().where(_DELIVERY_DUE, col(Delivery.next_attempt_at) <= bindparam("now")),
        sa.exists().where(col(OutboxMessage.published_at).is_(None)),
    )
)
_ITEM_REMINDER_TIMES = (
    sa.select(col(Reminder.fire_at))
    .where(col(Reminder.item_id).is_not(None))
    .order_by(col(Reminder.fire_at))
)
