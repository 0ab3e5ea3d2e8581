"""The outbox: batches of delivery ids written in the sweep's transaction, published after it.

A batch is a row whose payload names its deliveries (JSON, `{"deliveries": [...]}`); it is
taken (marked published) in a transaction of its own before it is handed to the broker, and
handed back (unmarked, with the error) if that fails.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from engine.store import dispatch_statements as sql
from engine.store.driver import Transaction

TOPIC = "deliver"


@dataclass(frozen=True)
class OutboxBatch:
    id: int
    delivery_ids: list[int]


@dataclass(frozen=True)
class Backlog:
    """What waits to be published."""

    batches: int
    waiting_since: dt.datetime  # when the oldest of them was written
    attempts: int  # failed tries to publish the most tried one
    last_error: str | None  # why that last try failed


def add_delivery_batches(
    tx: Transaction, *, delivery_ids: Sequence[int], batch_size: int, at: dt.datetime
) -> None:
    """Write the deliveries to the outbox, `batch_size` to a batch, in the order given."""
    messages = [
        {
            "topic": TOPIC,
            "payload": json.dumps({"deliveries": list(delivery_ids[start : start + batch_size])}),
            "created_at": at,
            "attempts": 0,
        }
        for start in range(0, len(delivery_ids), batch_size)
    ]
    if messages:
        tx.connection.execute(sql.INSERT_OUTBOX, messages)


def take_unpublished(tx: Transaction, *, limit: int, at: dt.datetime) -> list[OutboxBatch]:
    """Lock up to `limit` unpublished batches, the oldest first (skipping locked ones), and mark
    them published at `at`, one try more."""
    rows = tx.connection.execute(sql.UNPUBLISHED, {"limit": limit}).all()
    if rows:
        tx.connection.execute(sql.MARK_PUBLISHED, {"ids": [r.id for r in rows], "at": at})
    return [OutboxBatch(id=r.id, delivery_ids=json.loads(r.payload)["deliveries"]) for r in rows]


def return_unpublished(tx: Transaction, *, batch_ids: Sequence[int], error: str) -> None:
    """Mark the batches unpublished again, with the error that kept them from going out."""
    if batch_ids:
        tx.connection.execute(sql.UNMARK_PUBLISHED, {"ids": list(batch_ids), "error": error})


def publishing_backlog(tx: Transaction) -> Backlog | None:
    """What waits to be published, or None when every batch was."""
    batches, since, attempts, error = tx.connection.execute(sql.PUBLISHING_BACKLOG).one()
    if not batches:
        return None
    return Backlog(batches=batches, waiting_since=since, attempts=attempts, last_error=error)
