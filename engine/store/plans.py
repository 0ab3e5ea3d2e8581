"""The plan row: read and locked for a write, written back whole, created."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from engine.core.limits import MAX_ROW_ID
from engine.store import statements
from engine.store.driver import Transaction
from engine.store.unique import insert_unless_taken


@dataclass(frozen=True)
class PlanRecord:
    """A plan row as a write reads it and writes it back whole (`save_plan`), changed with
    `dataclasses.replace`.

    Plain data: building an ORM `Plan` costs about 120 µs, more than the row's round trip.
    Its fields are the `plan` table's columns (a test keeps them so).
    """

    id: int
    org_id: int
    year: int
    title: str
    template_id: int
    template_name: str
    template_version: int
    state: str
    state_entered_at: dt.datetime
    version: int
    created_by: int
    created_at: dt.datetime
    updated_at: dt.datetime
    assessment_score: float | None
    assessment_comment: str | None


def lock_plan(tx: Transaction, *, plan_id: int) -> PlanRecord | None:
    """Load a plan for update. On SQLite the IMMEDIATE transaction already serialises.

    A wait longer than the lock timeout raises a DBAPI error that `is_lock_timeout` knows.
    """
    if not 1 <= plan_id <= MAX_ROW_ID:
        return None
    query = statements.PLAN_ROW if tx.is_sqlite else statements.PLAN_ROW_FOR_UPDATE
    row = tx.execute(query, {"plan_id": plan_id}).first()
    return PlanRecord(*row) if row is not None else None


def save_plan(tx: Transaction, *, plan: PlanRecord) -> None:
    """Write every column of the plan's row from `plan`."""
    columns = {name: getattr(plan, name) for name in statements.PLAN_COLUMNS}
    tx.execute(statements.WRITE_PLAN, {"plan_key": plan.id, **columns})


def insert_plan(
    tx: Transaction,
    *,
    org_id: int,
    year: int,
    title: str,
    template_id: int,
    template_name: str,
    template_version: int,
    state: str,
    created_by: int,
    at: dt.datetime,
) -> PlanRecord | None:
    """A new plan at version 0, entering `state` at `at`; None when another plan holds its
    identity (one per organisation, year and template), which a create that asked first
    (`plan_holding`) can still meet: two creates may both have asked before either inserted."""
    columns: dict[str, Any] = {
        "org_id": org_id,
        "year": year,
        "title": title,
        "template_id": template_id,
        "template_name": template_name,
        "template_version": template_version,
        "state": state,
        "state_entered_at": at,
        "version": 0,
        "created_by": created_by,
        "created_at": at,
        "updated_at": at,
        "assessment_score": None,
        "assessment_comment": None,
    }
    plan_id = insert_unless_taken(
        tx, statements.INSERT_PLAN, columns, key=("org_id", "year", "template_name")
    )
    return None if plan_id is None else PlanRecord(id=plan_id, **columns)


def plan_holding(tx: Transaction, *, org_id: int, year: int, template_name: str) -> int | None:
    """The id of the organisation's plan for `year` on the template, if there is one."""
    plan_id: int | None = tx.execute(
        statements.PLAN_HOLDING, {"org_id": org_id, "year": year, "template_name": template_name}
    ).scalar()
    return plan_id
