"""Where a plan stands and what is left to report on it: its state, its monthly items, its goals.

What the demo's people look at before they report (an item's number, month and due day, and
whether it has been reported; a goal's key and target), and how many plans ended in each state.
Read-only, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import col

from engine.store.driver import Transaction
from engine.store.tables import Goal, MonthlyItem, Plan


@dataclass(frozen=True)
class PlanStanding:
    """A plan's state, and the template that says what the state allows."""

    id: int
    state: str
    template_id: int


@dataclass(frozen=True)
class ItemProgress:
    """A monthly item: `position` is its number in the plan, `status` None until reported."""

    id: int
    position: int
    month: int
    due_day: int | None
    status: str | None
    reported_at: dt.datetime | None


@dataclass(frozen=True)
class GoalProgress:
    """A goal's target (`comparator` is `>=`, `<=` or `=`) and its actual, None until reported."""

    id: int
    key: str
    target: float
    comparator: str
    actual: float | None


def plan_standing(tx: Transaction, *, plan_id: int) -> PlanStanding | None:
    row = tx.execute(_STANDING, {"plan_id": plan_id}).first()
    return PlanStanding(*row) if row is not None else None


def plan_items(tx: Transaction, *, plan_id: int, month: int | None = None) -> list[ItemProgress]:
    """The plan's monthly items in plan order; only those of `month` when given."""
    if month is None:
        rows = tx.execute(_ITEMS, {"plan_id": plan_id})
    else:
        rows = tx.execute(_ITEMS_OF_MONTH, {"plan_id": plan_id, "month": month})
    return [ItemProgress(*row) for row in rows]


def plan_goals(tx: Transaction, *, plan_id: int) -> list[GoalProgress]:
    """The plan's goals in plan order."""
    return [GoalProgress(*row) for row in tx.execute(_GOALS, {"plan_id": plan_id})]


def plans_per_state(tx: Transaction, *, plan_ids: list[int]) -> dict[str, int]:
    """How many of these plans are in each state, by state name."""
    query = (
        sa.select(col(Plan.state), sa.func.count())
        .where(col(Plan.id).in_(plan_ids))
        .group_by(col(Plan.state))
    )
    # An IN list: Core on the connection, which the driver path cannot send.
    return {state: count for state, count in tx.connection.execute(query)}


_STANDING = sa.select(col(Plan.id), col(Plan.state), col(Plan.template_id)).where(
    col(Plan.id) == bindparam("plan_id")
)
_ITEMS = (
    sa.select(
        col(MonthlyItem.id),
        col(MonthlyItem.position),
        col(MonthlyItem.month),
        col(MonthlyItem.due_day),
        col(MonthlyItem.status),
        col(MonthlyItem.reported_at),
    )
    .where(col(MonthlyItem.plan_id) == bindparam("plan_id"))
    .order_by(col(MonthlyItem.position))
)
_ITEMS_OF_MONTH = _ITEMS.where(col(MonthlyItem.month) == bindparam("month"))
_GOALS = (
    sa.select(col(Goal.id), col(Goal.key), col(Goal.target), col(Goal.comparator), col(Goal.actual))
    .where(col(Goal.plan_id) == bindparam("plan_id"))
    .order_by(col(Goal.position))
)
