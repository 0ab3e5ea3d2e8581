"""Deliveries: one row per reminder, channel and recipient, written by the sweep, claimed and
settled by the workers that send them.

Two ways of running statements meet here, chosen per statement for what it costs. The sweep's
and the batch's statements, with their `IN` lists, go through SQLAlchemy Core on the
transaction's connection. The statements a worker runs around every send (record the last
outcome, claim the next delivery) go straight to the driver's cursor, and on PostgreSQL the
outcome and the claim go in one psycopg pipeline (`record_and_claim`): that transaction is most
of what a delivery costs beyond its send (benchmarks/README.md, "After issue 8").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.messages import Recipient
from engine.store import dispatch_statements as sql
from engine.store.driver import Transaction
from engine.store.statuses import DeliveryStatus


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the sweep writes: queued, reserved to its message until `next_attempt_at`."""

    key: str  # unique: the reminder's key, the channel, the recipient's username
    reminder_id: int
    channel: str
    user_id: int
    subject: str
    body: str
    next_attempt_at: dt.datetime
    created_at: dt.datetime


@dataclass(frozen=True)
class WaitingDelivery:
    """A delivery a worker may still send, with all it needs to send it (read once per batch)."""

    id: int
    key: str
    reminder_id: int
    channel: str
    user_id: int
    subject: str
    body: str


@dataclass(frozen=True)
class Claim:
    """What a claim set: its token (`attempts`, the claim's number) and its lease's end."""

    attempts: int
    next_attempt_at: dt.datetime


@dataclass(frozen=True)
class SendOutcome:
    """One claimed send's outcome, to record if no later claim took the delivery over."""

    delivery_id: int
    attempt: int  # the claim's token
    status: DeliveryStatus
    sent_at: dt.datetime | None
    retry_at: dt.datetime  # `next_attempt_at` from now on
    reason: str | None


def existing_delivery_keys(tx: Transaction, *, reminder_ids: Iterable[int]) -> set[str]:
    """The keys of the deliveries these reminders already have (from an earlier retry)."""
    wanted = list(reminder_ids)
    if not wanted:
        return set()
    rows = tx.connection.execute(sql.EXISTING_DELIVERY_KEYS, {"ids": wanted})
    return {row.key for row in rows}


def insert_deliveries(tx: Transaction, *, deliveries: Sequence[NewDelivery]) -> list[int]:
    """Write the deliveries, queued with no attempt yet; their ids, in the order given."""
    if not deliveries:
        return []
    rows = [
        {
            "key": d.key,
            "reminder_id": d.reminder_id,
            "channel": d.channel,
            "user_id": d.user_id,
            "subject": d.subject,
            "body": d.body,
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
            "next_attempt_at": d.next_attempt_at,
            "created_at": d.created_at,
        }
        for d in deliveries
    ]
    return [row.id for row in tx.connection.execute(sql.INSERT_DELIVERIES, rows)]


def recipients(tx: Transaction, *, user_ids: Iterable[int]) -> dict[int, Recipient]:
    """The users of the given ids, as a message addresses them."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    return {
        row.id: Recipient(username=row.username, name=row.name, email=row.email)
        for row in tx.connection.execute(sql.USERS, {"ids": wanted})
    }


def stale_deliveries(tx: Transaction, *, now: dt.datetime, limit: int) -> list[int]:
    """Lock (skipping locked rows) deliveries that should have been sent by now and were not:
    published or claimed but past their lease, or failed and past their backoff."""
    rows = tx.connection.execute(sql.STALE_DELIVERIES, {"now": now, "limit": limit})
    return list(rows.scalars())


def requeue_deliveries(
    tx: Transaction, *, delivery_ids: Sequence[int], lease_until: dt.datetime
) -> None:
    """Queue the deliveries again, reserved to their new message until `lease_until`."""
    if delivery_ids:
        tx.connection.execute(
            sql.REQUEUE_DELIVERIES, {"ids": list(delivery_ids), "lease_until": lease_until}
        )


def claimable_deliveries(
    tx: Transaction, *, delivery_ids: Iterable[int], now: dt.datetime
) -> list[WaitingDelivery]:
    """Those of the deliveries a worker may take now (queued, or claimed past their lease)."""
    wanted = sorted(set(delivery_ids))
    if not wanted:
        return []
    rows = tx.connection.execute(sql.CLAIMABLE_DELIVERIES, {"ids": wanted, "now": now})
    return [WaitingDelivery(*row) for row in rows]


def reserve_deliveries(tx: Transaction, *, delivery_ids: Sequence[int], until: dt.datetime) -> None:
    """Keep the queued ones of the deliveries reserved to this worker until `until` (rows another
    transaction holds are skipped: it is claiming or reserving them itself)."""
    if delivery_ids:
        tx.connection.execute(sql.RESERVE_DELIVERIES, {"ids": list(delivery_ids), "until": until})


def record_and_claim(
    tx: Transaction,
    *,
    outcome: SendOutcome | None,
    delivery_id: int | None,
    now: dt.datetime,
    lease_until: dt.datetime,
) -> tuple[bool, Claim | None]:
    """Record a send's `outcome` (if any), then claim `delivery_id` (if any) until `lease_until`.

    Returns whether the outcome was recorded (False: a later claim had taken the delivery over),
    and the claim (None: no delivery asked for, or it was sent or is being sent meanwhile). Both
    statements run on the driver's cursor and, on PostgreSQL, together in one round trip.
    """
    calls: list[tuple[Any, dict[str, Any]]] = []
    if outcome is not None:
        calls.append(
            (
                sql.FINISH_DELIVERY,
                {
                    "delivery_id": outcome.delivery_id,
                    "attempt": outcome.attempt,
                    "new_status": outcome.status,
                    "sent_at": outcome.sent_at,
                    "retry_at": outcome.retry_at,
                    "reason": outcome.reason,
                },
            )
        )
    if delivery_id is not None:
        params = {"delivery_id": delivery_id, "now": now, "lease_until": lease_until}
        calls.append((sql.CLAIM_DELIVERY, params))
    if not calls:
        return False, None
    results = tx.execute_together(*calls)
    recorded = outcome is not None and results[0].rowcount > 0
    claim = None
    if delivery_id is not None:
        row = results[-1].first()
        if row is not None:
            claim = Claim(attempts=row.attempts, next_attempt_at=row.next_attempt_at)
    return recorded, claim


def record_late_send(
    tx: Transaction, *, delivery_id: int, sent_at: dt.datetime, reason: str
) -> bool:
    """Mark the delivery sent by a try whose lease had run out; False if it was already sent."""
    params = {"delivery_id": delivery_id, "sent_at": sent_at, "reason": reason}
    return tx.execute(sql.RECORD_LATE_SEND, params).rowcount > 0


def delivery_statuses(tx: Transaction, *, reminder_ids: Iterable[int]) -> dict[int, set[str]]:
    """For each reminder, the statuses its deliveries are in."""
    wanted = sorted(set(reminder_ids))
    statuses: dict[int, set[str]] = defaultdict(set)
    if wanted:
        for row in tx.connection.execute(sql.DELIVERY_STATUSES, {"ids": wanted}):
            statuses[row.reminder_id].add(row.status)
    return dict(statuses)
