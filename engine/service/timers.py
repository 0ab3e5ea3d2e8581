"""Timer transitions (`at: MM-DD`, `after: DURATION`), fired as the system through `act`.

`fire_due_timers` is a sweep: it finds plans whose timer is due at `now` and fires each through the
same service call as a person's action (with the system as actor in the audit log). A plan that
fails (a guard, a missing role holder) is reported and the sweep goes on, so one broken plan
cannot stop the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from engine.core.durations import DurationUnit
from engine.core.errors import PlanflowError
from engine.core.template.model import Transition
from engine.service.actions import act
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.timezones import plan_timezone
from engine.store.tables import Plan, TemplateRecord


@dataclass(frozen=True)
class TimerOutcome:
    plan_id: int
    trigger: str
    error: str | None = None  # None: fired


def timer_due_at(rt: Runtime, plan: Plan, transition: Transition, tz: dt.tzinfo) -> dt.datetime:
    if transition.at is not None:
        day = transition.at.in_year(plan.year)
        return dt.datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(dt.UTC)
    assert transition.after is not None
    return rt.calendar.shift(plan.state_entered_at.astimezone(tz), transition.after).astimezone(
        dt.UTC
    )


def _candidates(now: dt.datetime, transition: Transition, tz: dt.tzinfo) -> ColumnElement[bool]:
    """A SQL filter that keeps every plan whose timer may be due (exactly, for `at`).

    `at` timers are due in the plan's own year, so the newest due year follows from today.
    `after` timers: working days are at least as long as calendar days, so entering the state
    at least that many calendar days (or hours) ago is a safe pre-filter; the exact due time is
    then computed per plan.
    """
    if transition.at is not None:
        today = now.astimezone(tz).date()
        reached = today >= transition.at.in_year(today.year)
        return col(Plan.year) <= (today.year if reached else today.year - 1)
    assert transition.after is not None
    amount = transition.after.amount
    span = (
        dt.timedelta(hours=amount)
        if transition.after.unit is DurationUnit.HOURS
        else dt.timedelta(days=amount * (7 if transition.after.unit is DurationUnit.WEEKS else 1))
    )
    return col(Plan.state_entered_at) <= now - span


def fire_due_timers(rt: Runtime, *, limit: int = 1000) -> list[TimerOutcome]:
    """Fire every timer that is due now, each in its own transaction, as the system."""
    now = rt.now()
    due: list[tuple[int, str]] = []
    with rt.database.session() as session:
        for record in session.exec(select(TemplateRecord)):
            assert record.id is not None
            workflow = workflow_by_id(rt, session, record.id)
            tz = plan_timezone(rt, workflow.template)
            for timer in (t for t in workflow.template.transitions if t.is_timer):
                plans = session.exec(
                    select(Plan)
                    .where(
                        Plan.template_id == record.id,
                        col(Plan.state).in_(timer.sources),
                        _candidates(now, timer, tz),
                    )
                    .order_by(col(Plan.id))
                    .limit(limit)
                )
                due.extend(
                    (plan.id or 0, timer.trigger)
                    for plan in plans
                    if timer_due_at(rt, plan, timer, tz) <= now
                )
    outcomes: list[TimerOutcome] = []
    for plan_id, trigger in due:
        try:
            act(rt, plan_id=plan_id, trigger=trigger, actor=None)
            outcomes.append(TimerOutcome(plan_id, trigger))
        except PlanflowError as error:  # moved on meanwhile, or refused: report, keep going
            outcomes.append(TimerOutcome(plan_id, trigger, error=error.message))
    return outcomes
