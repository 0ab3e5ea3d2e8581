"""The columns a plan file fills are exactly as long as the pure core's limits allow.

Validation (`engine.core.limits`) is what keeps a too-long text from PostgreSQL, which refuses it,
and from SQLite, which would keep it; the two must never disagree. (`test_migrations` checks that
the migrated schema equals these models on both databases.)
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.core import limits
from engine.store.tables import (
    Goal,
    MonthlyItem,
    Organisation,
    Plan,
    PlanSection,
    TemplateRecord,
    User,
)

BOUNDED = [
    (Organisation, "code", limits.ORG_CODE),
    (Organisation, "name", limits.ORG_NAME),
    (User, "username", limits.USERNAME),
    (User, "name", limits.USER_NAME),
    (User, "email", limits.EMAIL),
    (TemplateRecord, "name", limits.TEMPLATE_NAME),
    (Plan, "title", limits.PLAN_TITLE),
    (Plan, "template_name", limits.TEMPLATE_NAME),
    (PlanSection, "heading", limits.SECTION_HEADING),
    (Goal, "key", limits.GOAL_KEY),
    (Goal, "title", limits.GOAL_TITLE),
    (Goal, "unit", limits.GOAL_UNIT),
    (MonthlyItem, "title", limits.ITEM_TITLE),
]

# Texts the core bounds on its own (a body, a detail, comments and notes): the column takes any
# length, so the core's limit is the only one.
UNBOUNDED = [
    (PlanSection, "body"),
    (MonthlyItem, "detail"),
    (MonthlyItem, "report_note"),
    (Goal, "actual_note"),
    (Plan, "assessment_comment"),
]


POSTGRESQL = sa.create_engine("postgresql+psycopg://").dialect  # compiles, never connects


def column(table: type, name: str) -> sa.Column[object]:
    found: sa.Column[object] = table.__table__.c[name]  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize(("table", "name", "limit"), BOUNDED)
def test_a_bounded_column_is_as_long_as_the_core_limit(table: type, name: str, limit: int) -> None:
    kind = column(table, name).type
    assert str(kind.compile(dialect=POSTGRESQL)) == f"VARCHAR({limit})"


@pytest.mark.parametrize(("table", "name"), UNBOUNDED)
def test_free_texts_are_stored_in_unbounded_columns(table: type, name: str) -> None:
    assert str(column(table, name).type.compile(dialect=POSTGRESQL)) == "TEXT"
