"""Reminders as operators list and retry them: each with its plan's organisation and its
deliveries, and the retry that puts a reminder back where the sweep picks it up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from engine.store import dispatch_statements as sql
from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.statuses import ReminderStatus
from engine.store.tables import Plan, Reminder

_PLAN = table_of(Plan)
_REMINDER = table_of(Reminder)
_PLAN_ORG = sa.select(_PLAN.c.org_id).where(_PLAN.c.id == sa.bindparam("plan_id"))
_REMINDER_ORG = (
    sa.select(_PLAN.c.org_id)
    .join(_REMINDER, _REMINDER.c.plan_id == _PLAN.c.id)
    .where(_REMINDER.c.id == sa.bindparam("reminder_id"))
)


@dataclass(frozen=True)
class ListedReminder:
    id: int
    plan_id: int
    org_name: str
    template_id: int
    kind: str
    recipient_role: str
    fire_at: dt.datetime
    status: str
    attempts: int  # operator retries so far
    last_error: str | None
    item_id: int | None
    task_id: int | None


@dataclass(frozen=True)
class ListedDelivery:
    id: int
    reminder_id: int
    channel: str
    recipient: str  # username
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class ReminderRef:
    id: int
    plan_id: int


@dataclass(frozen=True)
class RetryState:
    """A reminder as a retry finds it, locked with its deliveries."""

    status: str
    last_error: str | None
    attempts: int
    delivery_statuses: tuple[str, ...]  # of its deliveries, by id


def plan_exists(tx: Transaction, *, plan_id: int) -> bool:
    return tx.connection.execute(sql.PLAN_EXISTS, {"plan_id": plan_id}).first() is not None


def plan_org(tx: Transaction, *, plan_id: int) -> int | None:
    """The organisation of the plan; None if there is no such plan."""
    row = tx.connection.execute(_PLAN_ORG, {"plan_id": plan_id}).first()
    return row.org_id if row is not None else None


def reminder_org(tx: Transaction, *, reminder_id: int) -> int | None:
    """The organisation of the reminder's plan; None if there is no such reminder."""
    row = tx.connection.execute(_REMINDER_ORG, {"reminder_id": reminder_id}).first()
    return row.org_id if row is not None else None


def listed_reminders(
    tx: Transaction,
    *,
    status: str | None,
    plan_id: int | None,
    limit: int,
    org_ids: Collection[int] | None = None,
) -> list[ListedReminder]:
    """Reminders by fire time (then id), optionally of one status or plan, or of the plans of
    some organisations only (an administrator's realm)."""
    query = sql.REMINDER_LISTING
    if org_ids is not None:
        query = query.where(_PLAN.c.org_id.in_(sorted(org_ids)))
    if status is not None:
        query = query.where(sql.REMINDER_LISTING.selected_columns.status == status)
    if plan_id is not None:
        query = query.where(sql.REMINDER_LISTING.selected_columns.plan_id == plan_id)
    return [ListedReminder(*tuple(row)) for row in tx.connection.execute(query.limit(limit))]


def listed_deliveries(
    tx: Transaction, *, reminder_ids: Iterable[int]
) -> dict[int, list[ListedDelivery]]:
    """For each reminder, its deliveries in the order they were written."""
    wanted = sorted(set(reminder_ids))
    found: dict[int, list[ListedDelivery]] = {}
    if wanted:
        for row in tx.connection.execute(sql.REMINDER_DELIVERIES, {"ids": wanted}):
            found.setdefault(row.reminder_id, []).append(ListedDelivery(*row))
    return found


def reminder_plan(tx: Transaction, *, reminder_id: int) -> int | None:
    """The plan the reminder belongs to; None if there is no such reminder."""
    row = tx.connection.execute(sql.REMINDER_PLAN, {"reminder_id": reminder_id}).first()
    return row.plan_id if row is not None else None


def dead_reminders(tx: Transaction, *, org_ids: Collection[int] | None = None) -> list[ReminderRef]:
    """The dead reminders, by fire time (then id); of the plans of `org_ids` only, if given."""
    query = sql.DEAD_REMINDERS
    if org_ids is not None:
        query = query.join(_PLAN, _PLAN.c.id == _REMINDER.c.plan_id).where(
            _PLAN.c.org_id.in_(sorted(org_ids))
        )
    return [ReminderRef(*row) for row in tx.connection.execute(query)]


def lock_for_retry(tx: Transaction, *, reminder_id: int) -> RetryState | None:
    """Lock the reminder's deliveries, then the reminder (PostgreSQL), and read them."""
    params = {"reminder_id": reminder_id}
    deliveries = tx.connection.execute(sql.LOCK_REMINDER_DELIVERIES, params).all()
    row = tx.connection.execute(sql.LOCK_REMINDER, params).first()
    if row is None:
        return None
    return RetryState(
        status=row.status,
        last_error=row.last_error,
        attempts=row.attempts,
        delivery_statuses=tuple(d.status for d in deliveries),
    )


def retry_deliveries(tx: Transaction, *, reminder_id: int, at: dt.datetime) -> int:
    """Make the reminder's dead and failed deliveries failed with no attempts used, due `at`
    (the sweep republishes them then); how many there were."""
    params = {"of_reminder": reminder_id, "at": at}
    return tx.connection.execute(sql.RETRY_DELIVERIES, params).rowcount


def set_retried(
    tx: Transaction, *, reminder_id: int, status: ReminderStatus, attempts: int
) -> None:
    """The reminder after a retry: its new status and retry count, its last error cleared."""
    params = {"reminder_id": reminder_id, "new_status": status, "retries": attempts}
    tx.connection.execute(sql.SET_RETRIED_REMINDER, params)
