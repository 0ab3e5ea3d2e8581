"""A plan's identity — one plan per organisation, year and template — and creating a plan only
while no other holds it.

Asking first (`plan_holding`) still leaves the race of two creates that both asked: PostgreSQL
then refuses the second insert on the unique key. The insert runs in a savepoint, so that the
refusal leaves the transaction usable and the caller learns "taken" as None, then asks again and
sees the winner.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.store.driver import Transaction
from engine.store.plans import PlanRecord, insert_plan
from engine.store.statements import table_of
from engine.store.tables import Plan as _PlanTable

_PLAN = table_of(_PlanTable)
_HOLDING = sa.select(_PLAN.c.id).where(
    _PLAN.c.org_id == bindparam("org_id"),
    _PLAN.c.year == bindparam("year"),
    _PLAN.c.template_name == bindparam("template_name"),
)


def plan_holding(tx: Transaction, *, org_id: int, year: int, template_name: str) -> int | None:
    """The id of the organisation's plan for `year` on the template, if there is one."""
    plan_id: int | None = tx.execute(
        _HOLDING, {"org_id": org_id, "year": year, "template_name": template_name}
    ).scalar()
    return plan_id


def insert_plan_unless_taken(
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
    """`plans.insert_plan`, or None when another plan took the identity meanwhile."""
    try:
        with tx.connection.begin_nested():
            return insert_plan(
                tx,
                org_id=org_id,
                year=year,
                title=title,
                template_id=template_id,
                template_name=template_name,
                template_version=template_version,
                state=state,
                created_by=created_by,
                at=at,
            )
    except sa.exc.IntegrityError as error:
        if not any(name in str(error.orig) for name in _PLAN_IDENTITY):
            raise
        return None


# How each database names the unique (org_id, year, template_name) of `plan` when it refuses a
# second row: PostgreSQL by the constraint's default name, SQLite by its columns.
_PLAN_IDENTITY = (
    "plan_org_id_year_template_name_key",
    "plan.org_id, plan.year, plan.template_name",
)
