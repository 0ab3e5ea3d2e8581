"""The planned reminder rows a plan write stores, cancels, revives and settles: task notices,
nudges and escalation levels, and the item reminders of a live plan.

A write stores dozens of rows at once (a year of item reminders), each batch in one executemany
on the driver path: as ORM objects they would cost more than the rest of the write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.messages import ReminderKind
from engine.core.planning import PlannedReminder, PlannedTaskReminder
from engine.store import cycle_statements, statements
from engine.store.driver import Transaction
from engine.store.statuses import ReminderStatus


@dataclass(frozen=True)
class StoredReminder:
    """What re-planning needs to know of a reminder row already stored under its key."""

    id: int
    key: str
    status: str
    item_id: int | None  # None: about a task


@dataclass(frozen=True)
class ReminderLevel:
    """A task reminder row as an escalation re-reads it under the plan's lock."""

    id: int
    key: str
    status: str
    task_id: int | None
    recipient_role: str | None


@dataclass(frozen=True)
class DueEscalation:
    """An escalation level due now, with its plan's version when found."""

    id: int  # the level's reminder row
    plan_id: int
    plan_version: int
    failed_before: bool  # a failure record of it exists (its retry is due)


def insert_task_reminders(
    tx: Transaction, *, reminders: Sequence[PlannedTaskReminder], at: dt.datetime
) -> None:
    """Store task reminders as planned rows, created `at`."""
    if not reminders:
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
                "created_at": at,
            }
            for reminder in reminders
        ],
    )


def insert_item_reminders(
    tx: Transaction,
    *,
    reminders: Sequence[PlannedReminder],
    kinds: Sequence[ReminderKind],
    at: dt.datetime,
) -> None:
    """Store item reminders as planned rows, created `at`; `kinds[i]` is the kind of the
    template's reminder rule `i`."""
    if not reminders:
        return
    tx.execute(
        statements.INSERT_REMINDERS,
        [
            {
                "key": reminder.key,
                "plan_id": reminder.plan_id,
                "kind": kinds[reminder.rule_index],
                "rule_index": reminder.rule_index,
                "item_id": reminder.item_id,
                "recipient_role": reminder.role,
                "fire_at": reminder.fire_at,
                "status": ReminderStatus.PLANNED,
                "attempts": 0,
                "created_at": at,
            }
            for reminder in reminders
        ],
    )


def stored_reminders(tx: Transaction, *, plan_id: int) -> list[StoredReminder]:
    """Every reminder row of the plan, whatever its status."""
    rows = tx.execute(statements.REMINDER_KEYS, {"plan_id": plan_id})
    return [StoredReminder(row.id, row.key, row.status, row.item_id) for row in rows]


def revive_reminders(tx: Transaction, *, reminder_ids: Sequence[int]) -> None:
    """Plan cancelled reminders again (their occurrence is back)."""
    if reminder_ids:
        tx.execute(statements.REVIVE_REMINDER, [{"reminder_id": i} for i in reminder_ids])


def cancel_planned_reminders(tx: Transaction, *, reminder_ids: Sequence[int]) -> None:
    """Cancel these reminders if still planned: their occurrence no longer exists."""
    if reminder_ids:
        tx.execute(statements.CANCEL_PLANNED_REMINDER, [{"reminder_id": i} for i in reminder_ids])


def cancel_item_reminders(tx: Transaction, *, plan_id: int) -> None:
    """Cancel the plan's item reminders that have not gone out."""
    tx.execute(statements.CANCEL_ITEM_REMINDERS, {"of_plan": plan_id})


def cancel_task_reminders(tx: Transaction, *, plan_id: int) -> None:
    """Cancel the plan's task reminders (notices, nudges, escalation levels) not gone out."""
    tx.execute(statements.CANCEL_TASK_REMINDERS, {"of_plan": plan_id})


def cancel_unsent_task_notices(tx: Transaction, *, task_id: int, reason: str) -> None:
    """Cancel the task's new-task notices still planned, saying why."""
    tx.execute(statements.CANCEL_UNSENT_TASK_NOTICES, {"of_task": task_id, "reason": reason})


def reminder_level(tx: Transaction, *, reminder_id: int) -> ReminderLevel | None:
    row = tx.execute(statements.REMINDER_BY_ID, {"reminder_id": reminder_id}).first()
    return ReminderLevel(*row) if row is not None else None


def settle_reminder(
    tx: Transaction,
    *,
    reminder_id: int,
    status: ReminderStatus,
    at: dt.datetime | None,
    error: str | None,
) -> None:
    """Settle a reminder still planned (sent `at`, dead or cancelled with `error`); one settled
    meanwhile stays as it is."""
    tx.execute(
        statements.SETTLE_REMINDER,
        {"reminder_id": reminder_id, "new_status": status, "at": at, "error": error},
    )


def due_escalations(tx: Transaction, *, now: dt.datetime, limit: int) -> list[DueEscalation]:
    """Escalation levels due at `now`, never-failed first (see `cycle_statements`)."""
    rows = tx.execute(cycle_statements.DUE_ESCALATIONS, {"now": now, "limit": limit})
    return [
        DueEscalation(row.id, row.plan_id, row.plan_version, row.failure_id is not None)
        for row in rows
    ]
