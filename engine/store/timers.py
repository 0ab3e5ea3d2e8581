"""The plans a timer transition may be due for, as the cycle's timer sweep reads them.

One query per template and timer, on Core (its states are an `IN` list); the exact due time of
each candidate is the service's to compute (`timers.timer_due_at`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.statuses import CycleStep
from engine.store.tables import CycleFailure, Plan, TemplateRecord

_PLAN = table_of(Plan)
_FAILURE = table_of(CycleFailure)
_TEMPLATE = table_of(TemplateRecord)


@dataclass(frozen=True)
class TimerCandidate:
    """A plan in one of a timer's source states, with its last failed try of that timer."""

    id: int
    year: int
    state_entered_at: dt.datetime
    version: int
    last_failed_at: dt.datetime | None  # None: never failed (or the plan changed since)


def template_ids(tx: Transaction) -> list[int]:
    """Every loaded template version's id."""
    ids: list[int] = tx.execute(_TEMPLATE_IDS).scalars()
    return ids


def timer_candidates(
    tx: Transaction,
    *,
    template_id: int,
    states: Sequence[str],
    trigger: str,
    now: dt.datetime,
    year_at_most: int | None = None,
    entered_by: dt.datetime | None = None,
) -> list[TimerCandidate]:
    """Plans of the template in `states` whose `trigger` timer may be due: of a year up to
    `year_at_most` (an `at` timer), or in their state since `entered_by` (an `after` timer);
    those whose last failure of it waits for its retry at `now` left out."""
    failure = sa.and_(
        _FAILURE.c.plan_id == _PLAN.c.id,
        _FAILURE.c.step == CycleStep.TIMER,
        _FAILURE.c.trigger == trigger,
    )
    query = (
        sa.select(
            _PLAN.c.id,
            _PLAN.c.year,
            _PLAN.c.state_entered_at,
            _PLAN.c.version,
            _FAILURE.c.last_failed_at,
        )
        .outerjoin(_FAILURE, failure)
        .where(
            _PLAN.c.template_id == template_id,
            _PLAN.c.state.in_(states),
            sa.or_(_FAILURE.c.id.is_(None), _FAILURE.c.retry_at <= now),
        )
    )
    if year_at_most is not None:
        query = query.where(_PLAN.c.year <= year_at_most)
    if entered_by is not None:
        query = query.where(_PLAN.c.state_entered_at <= entered_by)
    return [TimerCandidate(*row) for row in tx.connection.execute(query)]


@functools.lru_cache(maxsize=64)
def _in_states(states: tuple[str, ...]) -> sa.ColumnElement[bool]:
    # Spelled out, not an IN list: the driver path sends no expanding IN.
    return sa.or_(*(_PLAN.c.state == state for state in states))


@functools.lru_cache(maxsize=64)
def _first_year(states: tuple[str, ...]) -> sa.Select[tuple[int]]:
    return sa.select(sa.func.min(_PLAN.c.year)).where(
        _PLAN.c.template_id == bindparam("template_id"),
        _in_states(states),
        _PLAN.c.year >= bindparam("year_from"),
    )


@functools.lru_cache(maxsize=64)
def _state_entries(states: tuple[str, ...], since: bool) -> sa.Select[tuple[dt.datetime]]:
    query = sa.select(_PLAN.c.state_entered_at).where(
        _PLAN.c.template_id == bindparam("template_id"), _in_states(states)
    )
    if since:
        query = query.where(_PLAN.c.state_entered_at > bindparam("entered_after"))
    return query.order_by(_PLAN.c.state_entered_at).limit(bindparam("limit"))


_NEXT_RETRY = sa.select(sa.func.min(_FAILURE.c.retry_at))
_NEXT_RETRY_AFTER = _NEXT_RETRY.where(_FAILURE.c.retry_at > bindparam("after"))
_TEMPLATE_IDS = sa.select(_TEMPLATE.c.id).order_by(_TEMPLATE.c.id)


def first_timer_year(
    tx: Transaction, *, template_id: int, states: Sequence[str], year_from: int
) -> int | None:
    """The earliest year from `year_from` of the template's plans in `states` (None: none):
    an `at` timer from them falls due earliest in that year. One seek on `ix_plan_timer_year`.
    (Asked between two cycles of a replay: a statement built once per set of states, on the
    driver's cursor.)"""
    params = {"template_id": template_id, "year_from": year_from}
    year: int | None = tx.execute(_first_year(tuple(states)), params).scalar()
    return year


def state_entries(
    tx: Transaction,
    *,
    template_id: int,
    states: Sequence[str],
    entered_after: dt.datetime | None,
    limit: int,
) -> list[dt.datetime]:
    """When the template's plans in `states` entered them, after `entered_after` (None: any),
    the earliest first, at most `limit`: an `after` timer falls due later the later its plan
    entered the state."""
    params: dict[str, object] = {"template_id": template_id, "limit": limit}
    if entered_after is not None:
        params["entered_after"] = entered_after
    query = _state_entries(tuple(states), entered_after is not None)
    entries: list[dt.datetime] = tx.execute(query, params).scalars()
    return entries


def next_retry(tx: Transaction, *, after: dt.datetime | None) -> dt.datetime | None:
    """The earliest moment (after `after`; None: any) at which a failed timer, escalation level
    or hand-over is tried again."""
    if after is None:
        moment: dt.datetime | None = tx.execute(_NEXT_RETRY).scalar()
    else:
        moment = tx.execute(_NEXT_RETRY_AFTER, {"after": after}).scalar()
    return moment
