"""What the reminder sweep reads and settles: the due reminders and what they refer to.

The sweep claims a batch of due reminders (`FOR UPDATE SKIP LOCKED`, so two sweepers take
disjoint rows), reads their plans, items, tasks and signers a query per table rather than per
reminder, and writes each reminder's fate back in one executemany. These run through SQLAlchemy
Core on the transaction's connection: their `IN` lists are rendered at execution, which the
driver path does not do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.store import dispatch_statements as sql
from engine.store.driver import Transaction
from engine.store.statuses import ReminderStatus


@dataclass(frozen=True)
class DueReminder:
    id: int
    key: str
    plan_id: int
    kind: str
    rule_index: int
    item_id: int | None
    task_id: int | None
    recipient_role: str
    fire_at: dt.datetime
    attempts: int  # operator retries so far


@dataclass(frozen=True)
class DuePlan:
    id: int
    org_id: int
    template_id: int
    title: str
    year: int
    state: str
    org_name: str


@dataclass(frozen=True)
class DueItem:
    id: int
    month: int
    title: str
    due_day: int
    status: str


@dataclass(frozen=True)
class DueTask:
    id: int
    state: str
    role: str
    org_id: int
    sign: str
    status: str
    due_at: dt.datetime | None


@dataclass(frozen=True)
class ReminderOutcome:
    """What became of a reminder: its new status, why (None: nothing to say), when it was sent."""

    reminder_id: int
    status: ReminderStatus
    reason: str | None = None
    sent_at: dt.datetime | None = None


def due_reminders(
    tx: Transaction, *, now: dt.datetime, kinds: Sequence[str], limit: int
) -> list[DueReminder]:
    """Claim up to `limit` planned reminders of `kinds` due by `now`, the oldest first."""
    rows = tx.connection.execute(sql.DUE_REMINDERS, {"now": now, "kinds": kinds, "limit": limit})
    return [DueReminder(*tuple(row)) for row in rows]


def reminder_plans(tx: Transaction, *, plan_ids: Iterable[int]) -> dict[int, DuePlan]:
    """The plans (with their organisation's name) of the given ids."""
    wanted = sorted(set(plan_ids))
    if not wanted:
        return {}
    return {row.id: DuePlan(*row) for row in tx.connection.execute(sql.PLANS, {"ids": wanted})}


def reminder_items(tx: Transaction, *, item_ids: Iterable[int | None]) -> dict[int, DueItem]:
    """The monthly items of the given ids that still exist (None ids are left out)."""
    wanted = sorted({i for i in item_ids if i is not None})
    if not wanted:
        return {}
    return {row.id: DueItem(*row) for row in tx.connection.execute(sql.ITEMS, {"ids": wanted})}


def reminder_tasks(tx: Transaction, *, task_ids: Iterable[int | None]) -> dict[int, DueTask]:
    """The tasks of the given ids that still exist (None ids are left out)."""
    wanted = sorted({i for i in task_ids if i is not None})
    if not wanted:
        return {}
    return {row.id: DueTask(*row) for row in tx.connection.execute(sql.TASKS, {"ids": wanted})}


def undecided_signers(tx: Transaction, *, task_ids: Iterable[int]) -> dict[int, list[int]]:
    """For each task, the user ids of its signers who have not decided yet, in signing order."""
    wanted = sorted(set(task_ids))
    signers: dict[int, list[int]] = {}
    if wanted:
        for row in tx.connection.execute(sql.UNDECIDED_SIGNERS, {"ids": wanted}):
            signers.setdefault(row.task_id, []).append(row.user_id)
    return signers


def set_reminder_outcomes(tx: Transaction, *, outcomes: Sequence[ReminderOutcome]) -> None:
    """Write each reminder's new status, reason (`last_error`) and send time."""
    if not outcomes:
        return
    tx.connection.execute(
        sql.SET_REMINDER_STATUS,
        [
            {
                "reminder_id": outcome.reminder_id,
                "new_status": outcome.status,
                "reason": outcome.reason,
                "sent_at": outcome.sent_at,
            }
            for outcome in outcomes
        ],
    )


def unsettled_reminders(tx: Transaction, *, limit: int) -> list[int]:
    """Reminders still queued or failed although every delivery of theirs has finished: a worker
    killed between its last send and settling them left them so."""
    return list(tx.connection.execute(sql.UNSETTLED_REMINDERS, {"limit": limit}).scalars())
