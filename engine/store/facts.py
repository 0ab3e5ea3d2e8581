"""What a write reads of a plan's content to decide: the goals and items its guards look at, and
the items' schedules its reminders are planned from."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.planning import ItemSchedule
from engine.store import statements
from engine.store.driver import Transaction


@dataclass(frozen=True)
class GoalFact:
    title: str
    actual: float | None  # None: not reported yet


@dataclass(frozen=True)
class ItemFact:
    month: int
    title: str
    status: str | None  # None: not reported yet


def goal_facts(tx: Transaction, *, plan_id: int) -> list[GoalFact]:
    rows = tx.execute(statements.GOAL_FACTS, {"plan_id": plan_id})
    return [GoalFact(row.title, row.actual) for row in rows]


def item_facts(tx: Transaction, *, plan_id: int) -> list[ItemFact]:
    """The plan's monthly items in their order."""
    rows = tx.execute(statements.ITEM_FACTS, {"plan_id": plan_id})
    return [ItemFact(row.month, row.title, row.status) for row in rows]


def item_schedules(tx: Transaction, *, plan_id: int) -> list[ItemSchedule]:
    """When each of the plan's monthly items is due, as reminder planning reads it."""
    rows = tx.execute(statements.ITEM_SCHEDULES, {"plan_id": plan_id})
    return [
        ItemSchedule(item_id=row.id, month=row.month, due_day=row.due_day, title=row.title)
        for row in rows
    ]
