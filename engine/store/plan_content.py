"""A plan's content — its sections, goals and monthly items — and the year-end reports on them.

What a plan file holds is written here (`replace_content` on create and on a draft's edit; the
item rows one by one when a live plan's items are amended), and what the owners report at the
year end (a goal's actual, an item's status) is stored on the goal and item rows. An amendment
also detaches the reminders of the items it removes, since reminder rows are never deleted.

Writes run inside the plan write's transaction on the driver path (`driver.py`), as the rest of
a write does; the lists of item ids (`IN`) go through Core on the same connection, which the
driver path cannot send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.core.planfile import ItemSpec, PlanSpec
from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.statuses import ReminderStatus
from engine.store.tables import Goal as _GoalTable
from engine.store.tables import MonthlyItem as _ItemTable
from engine.store.tables import PlanSection as _SectionTable
from engine.store.tables import Reminder as _ReminderTable

_SECTION = table_of(_SectionTable)
_GOAL = table_of(_GoalTable)
_ITEM = table_of(_ItemTable)
_REMINDER = table_of(_ReminderTable)


@dataclass(frozen=True)
class Section:
    """A section of a plan's text (the `plan_section` row)."""

    id: int
    plan_id: int
    position: int
    heading: str
    body: str


@dataclass(frozen=True)
class Goal:
    """A goal of a plan with its year-end report, if made (the `goal` row)."""

    id: int
    plan_id: int
    position: int
    key: str
    title: str
    target: float
    unit: str
    comparator: str
    allow_negative: bool
    actual: float | None
    actual_note: str | None
    reported_at: dt.datetime | None


@dataclass(frozen=True)
class Item:
    """A monthly item of a plan with its report, if made (the `monthly_item` row)."""

    id: int
    plan_id: int
    position: int
    month: int
    title: str
    detail: str
    due_day: int | None
    status: str | None
    report_note: str | None
    reported_at: dt.datetime | None


@dataclass(frozen=True)
class ItemReminder:
    """A reminder about one monthly item, as an amendment that removes the item sees it."""

    id: int
    item_id: int
    key: str
    status: str
    last_error: str | None


def _columns_of(table: sa.Table, record: type[Any]) -> list[sa.Column[Any]]:
    """The table's columns in the order of the record's fields, so `record(*row)` fits."""
    return [table.c[field.name] for field in fields(record)]


_SECTIONS = (
    sa.select(*_columns_of(_SECTION, Section))
    .where(_SECTION.c.plan_id == bindparam("plan_id"))
    .order_by(_SECTION.c.position)
)
_GOALS = (
    sa.select(*_columns_of(_GOAL, Goal))
    .where(_GOAL.c.plan_id == bindparam("plan_id"))
    .order_by(_GOAL.c.position)
)
_ITEMS = (
    sa.select(*_columns_of(_ITEM, Item))
    .where(_ITEM.c.plan_id == bindparam("plan_id"))
    .order_by(_ITEM.c.position)
)
_ITEM_AT = sa.select(*_columns_of(_ITEM, Item)).where(
    _ITEM.c.plan_id == bindparam("plan_id"), _ITEM.c.position == bindparam("at_position")
)
_ITEM_COUNT = (
    sa.select(sa.func.count()).select_from(_ITEM).where(_ITEM.c.plan_id == bindparam("plan_id"))
)
_DELETE_SECTIONS = sa.delete(_SECTION).where(_SECTION.c.plan_id == bindparam("plan_id"))
_DELETE_GOALS = sa.delete(_GOAL).where(_GOAL.c.plan_id == bindparam("plan_id"))
_DELETE_ITEMS = sa.delete(_ITEM).where(_ITEM.c.plan_id == bindparam("plan_id"))
_DELETE_ITEM = sa.delete(_ITEM).where(_ITEM.c.id == bindparam("item_id"))
_INSERT_SECTION = sa.insert(_SECTION)
_INSERT_GOAL = sa.insert(_GOAL)
_INSERT_ITEM = sa.insert(_ITEM)
_UPDATE_ITEM = sa.update(_ITEM).where(_ITEM.c.id == bindparam("item_id"))
_UPDATE_GOAL = sa.update(_GOAL).where(_GOAL.c.id == bindparam("goal_id"))
_UPDATE_REMINDER = sa.update(_REMINDER).where(_REMINDER.c.id == bindparam("reminder_id"))


def sections_of(tx: Transaction, *, plan_id: int) -> list[Section]:
    """The plan's sections in their order."""
    return [Section(*row) for row in tx.execute(_SECTIONS, {"plan_id": plan_id})]


def goals_of(tx: Transaction, *, plan_id: int) -> list[Goal]:
    """The plan's goals in their order."""
    return [_goal(row) for row in tx.execute(_GOALS, {"plan_id": plan_id})]


def _goal(row: Any) -> Goal:
    # The driver hands SQLite's booleans back as the integers it stores.
    return Goal(**{**row._asdict(), "allow_negative": bool(row.allow_negative)})


def items_of(tx: Transaction, *, plan_id: int) -> list[Item]:
    """The plan's monthly items in their order (position 1, 2, … as `plan show` numbers them)."""
    return [Item(*row) for row in tx.execute(_ITEMS, {"plan_id": plan_id})]


def item_at(tx: Transaction, *, plan_id: int, position: int) -> Item | None:
    """The plan's item at `position` (1-based)."""
    row = tx.execute(_ITEM_AT, {"plan_id": plan_id, "at_position": position}).first()
    return Item(*row) if row is not None else None


def item_count(tx: Transaction, *, plan_id: int) -> int:
    return int(tx.execute(_ITEM_COUNT, {"plan_id": plan_id}).scalar() or 0)


def replace_content(tx: Transaction, *, plan_id: int, spec: PlanSpec) -> None:
    """Make the plan's sections, goals and items those of `spec`, reports and all gone."""
    for statement in (_DELETE_SECTIONS, _DELETE_GOALS, _DELETE_ITEMS):
        tx.execute(statement, {"plan_id": plan_id})
    tx.execute(
        _INSERT_SECTION,
        [
            {"plan_id": plan_id, "position": position, "heading": s.heading, "body": s.body}
            for position, s in enumerate(spec.sections, 1)
        ],
    )
    tx.execute(
        _INSERT_GOAL,
        [
            {
                "plan_id": plan_id,
                "position": position,
                "key": g.key,
                "title": g.title,
                "target": float(g.target),
                "unit": g.unit,
                "comparator": g.comparator.value,
                "allow_negative": g.allow_negative,
            }
            for position, g in enumerate(spec.goals, 1)
        ],
    )
    for position, item in enumerate(spec.items, 1):
        insert_item(tx, plan_id=plan_id, position=position, item=item)


def insert_item(tx: Transaction, *, plan_id: int, position: int, item: ItemSpec) -> None:
    """A new, unreported monthly item."""
    tx.execute(
        _INSERT_ITEM,
        {
            "plan_id": plan_id,
            "position": position,
            "month": item.month,
            "title": item.title,
            "detail": item.detail,
            "due_day": item.due_day,
        },
    )


def update_item(
    tx: Transaction, *, item_id: int, position: int, detail: str, due_day: int | None
) -> None:
    """Move an item and change what an amendment may change of it (its report stays)."""
    tx.execute(
        _UPDATE_ITEM,
        {"item_id": item_id, "position": position, "detail": detail, "due_day": due_day},
    )


def delete_items(tx: Transaction, *, item_ids: Sequence[int]) -> None:
    """Delete items whose reminders were detached first (`detach_reminder`)."""
    tx.execute(_DELETE_ITEM, [{"item_id": item_id} for item_id in item_ids])


def record_goal_actual(
    tx: Transaction, *, goal_id: int, actual: float, note: str | None, at: dt.datetime
) -> None:
    """Store a goal's actual and its note, reported at `at`."""
    tx.execute(
        _UPDATE_GOAL, {"goal_id": goal_id, "actual": actual, "actual_note": note, "reported_at": at}
    )


def record_item_status(
    tx: Transaction, *, item_id: int, status: str, note: str | None, at: dt.datetime
) -> None:
    """Store an item's status (an `ItemStatus`) and its note, reported at `at`."""
    tx.execute(
        _UPDATE_ITEM, {"item_id": item_id, "status": status, "report_note": note, "reported_at": at}
    )


def item_reminders(tx: Transaction, *, item_ids: Sequence[int]) -> list[ItemReminder]:
    """The reminders about these items, any status."""
    if not item_ids:
        return []
    query = sa.select(
        _REMINDER.c.id,
        _REMINDER.c.item_id,
        _REMINDER.c.key,
        _REMINDER.c.status,
        _REMINDER.c.last_error,
    ).where(_REMINDER.c.item_id.in_(list(item_ids)))
    return [ItemReminder(*row) for row in tx.connection.execute(query)]


def items_with_history(tx: Transaction, *, item_ids: Sequence[int]) -> set[int]:
    """Items some reminder of which was already handled (sent, queued, skipped, missed, …)."""
    if not item_ids:
        return set()
    untouched = [ReminderStatus.PLANNED.value, ReminderStatus.CANCELLED.value]
    query = sa.select(_REMINDER.c.item_id).where(
        _REMINDER.c.item_id.in_(list(item_ids)), _REMINDER.c.status.not_in(untouched)
    )
    return {item_id for item_id in tx.connection.execute(query).scalars() if item_id is not None}


def detach_reminder(
    tx: Transaction, *, reminder_id: int, status: str, last_error: str | None, key: str
) -> None:
    """Keep a reminder whose item goes: no item, a new status, note and key."""
    tx.execute(
        _UPDATE_REMINDER,
        {
            "reminder_id": reminder_id,
            "item_id": None,
            "status": status,
            "last_error": last_error,
            "key": key,
        },
    )
