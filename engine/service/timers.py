"""Timer transitions (`at: MM-DD`, `after: DURATION`), fired as the system through `act`.

`fire_due_timers` is a sweep: it finds plans whose timer is due at `now` and fires each through the
same service call as a person's action (with the system as actor in the audit log). A plan that
fails — refused (a guard, a missing role holder), a database error, a bug — is logged with its id,
recorded for operators (`cycle_failures`) and the sweep goes on, so one broken plan cannot stop
the others; it is retried after a back-off, or at once when the plan changes, and after every
plan that never failed, so plans refused every time cannot starve the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from engine.core.durations import DurationUnit
from engine.core.errors import Conflict, PlanflowError
from engine.core.template.model import Transition
from engine.service.actions import act
from engine.service.cycle_failures import (
    Failed,
    describe,
    forget_failure,
    forget_stale_failures,
    record_failure,
    timer_subject,
)
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.timezones import plan_timezone
from engine.store import Transaction
from engine.store.statuses import CycleStep
from engine.store.timers import first_timer_year, state_entries, template_ids, timer_candidates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerOutcome:
    plan_id: int
    trigger: str
    error: str | None = None  # None: fired


class TimedPlan(Protocol):
    """What a timer's due time depends on (a `Plan`, or a row of its columns)."""

    @property
    def year(self) -> int: ...
    @property
    def state_entered_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class _Due:
    plan_id: int
    trigger: str
    plan_version: int
    failed_at: dt.datetime | None  # the last failed try; None: never failed (or the plan changed)


def timer_due_at(
    rt: Runtime, plan: TimedPlan, transition: Transition, tz: dt.tzinfo
) -> dt.datetime:
    if transition.at is not None:
        day = transition.at.in_year(plan.year)
        return dt.datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(dt.UTC)
    assert transition.after is not None
    return rt.calendar.shift(plan.state_entered_at.astimezone(tz), transition.after).astimezone(
        dt.UTC
    )


@dataclass(frozen=True)
class _Window:
    """Which plans' timer may be due (exactly, for `at`), for the store's query."""

    year_at_most: int | None = None
    entered_by: dt.datetime | None = None


def _candidates(now: dt.datetime, transition: Transition, tz: dt.tzinfo) -> _Window:
    """A pre-filter that keeps every plan whose timer may be due (exactly, for `at`).

    `at` timers are due in the plan's own year, so the newest due year follows from today.
    `after` timers: working days are at least as long as calendar days, so entering the state
    at least that many calendar days (or hours) ago is a safe pre-filter; the exact due time is
    then computed per plan.
    """
    if transition.at is not None:
        today = now.astimezone(tz).date()
        reached = today >= transition.at.in_year(today.year)
        return _Window(year_at_most=today.year if reached else today.year - 1)
    assert transition.after is not None
    amount = transition.after.amount
    span = (
        dt.timedelta(hours=amount)
        if transition.after.unit is DurationUnit.HOURS
        else dt.timedelta(days=amount * (7 if transition.after.unit is DurationUnit.WEEKS else 1))
    )
    return _Window(entered_by=now - span)


def fire_due_timers(rt: Runtime, *, limit: int = 1000) -> list[TimerOutcome]:
    """Fire every timer that is due now (at most `limit` per call), each in its own transaction,
    as the system.

    Every candidate is looked at (no window of the first N plans, which plans not yet due or
    refused every time could fill); those that never failed go first, by plan id, then those
    whose back-off has run out, the longest-waiting first. What is left over goes next cycle.
    """
    now = rt.now()
    forget_stale_failures(rt, CycleStep.TIMER)
    due: list[_Due] = []
    with rt.database.read() as tx:
        for template_id in template_ids(tx):
            workflow = workflow_by_id(rt, tx, template_id)
            tz = plan_timezone(rt, workflow.template)
            for timer in (t for t in workflow.template.transitions if t.is_timer):
                window = _candidates(now, timer, tz)
                candidates = timer_candidates(
                    tx,
                    template_id=template_id,
                    states=timer.sources,
                    trigger=timer.trigger,
                    now=now,
                    year_at_most=window.year_at_most,
                    entered_by=window.entered_by,
                )
                due.extend(
                    _Due(plan.id, timer.trigger, plan.version, plan.last_failed_at)
                    for plan in candidates
                    if timer_due_at(rt, plan, timer, tz) <= now
                )
    due.sort(key=lambda d: (d.failed_at is not None, d.failed_at or now, d.plan_id))
    return [outcome for timer in due[:limit] if (outcome := _fire(rt, timer)) is not None]


def next_timer_due(rt: Runtime, *, after: dt.datetime | None) -> dt.datetime | None:
    """When the next timer transition of any plan falls due, strictly after `after`; with None,
    the earliest due time of all, which is at or before now when a timer is due (or refused and
    waiting for its retry: `cycle_failures` says when).

    For a replay that jumps from one moment that matters to the next (`planflow simulate`):
    a scheduler cycling every few seconds fires a timer at the first cycle after this moment.
    An `at` timer's due time follows from the plan's year, an `after` timer's from when the plan
    entered its state (the later, the later it falls due), so a few small queries per template
    and timer answer it, not one per plan.
    """
    with rt.database.read() as tx:
        return next_timer_due_in(rt, tx, after=after)


def next_timer_due_in(
    rt: Runtime, tx: Transaction, *, after: dt.datetime | None
) -> dt.datetime | None:
    """`next_timer_due` in the caller's read transaction (one transaction for a replay's few
    questions between two cycles)."""
    moments: list[dt.datetime] = []
    for template_id in template_ids(tx):
        workflow = workflow_by_id(rt, tx, template_id)
        tz = plan_timezone(rt, workflow.template)
        for timer in (t for t in workflow.template.transitions if t.is_timer):
            moment = _next_due_of(rt, tx, template_id, timer, tz, after)
            if moment is not None:
                moments.append(moment)
    return min(moments, default=None)


_ENTRIES_PER_READ = 500
_WORST_HOLIDAYS = dt.timedelta(days=30)  # the longest run of days off a calendar may add


@dataclass(frozen=True)
class _Entered:
    """What an `after` timer's due time depends on: the year is not among it."""

    state_entered_at: dt.datetime
    year: int = 0


def _next_due_of(
    rt: Runtime,
    tx: Transaction,
    template_id: int,
    timer: Transition,
    tz: dt.tzinfo,
    after: dt.datetime | None,
) -> dt.datetime | None:
    if timer.at is not None:
        # Due times grow with the plan's year: the first year from the one `after` falls in
        # whose due time is past `after` (the year before, for a late 31 December in UTC).
        year_from = 0
        if after is not None:
            year_from = after.astimezone(tz).year - 1
            while timer_due_at(rt, _Entered(dt.datetime.min, year_from), timer, tz) <= after:
                year_from += 1
        year = first_timer_year(
            tx, template_id=template_id, states=timer.sources, year_from=year_from
        )
        return (
            None if year is None else timer_due_at(rt, _Entered(dt.datetime.min, year), timer, tz)
        )
    # An `after` timer falls due at least its span in calendar time after the plan entered the
    # state (see `_candidates`), and at most a few times that (working days, weekends, holidays):
    # read the plans that entered it since well before, the earliest first, and stop at the
    # first one due after `after` (due times grow with the time of entry).
    entered_after = None
    if after is not None:
        entered_by = _candidates(after, timer, tz).entered_by
        assert entered_by is not None
        entered_after = after - (after - entered_by) * 3 - _WORST_HOLIDAYS
    while True:
        entries = state_entries(
            tx,
            template_id=template_id,
            states=timer.sources,
            entered_after=entered_after,
            limit=_ENTRIES_PER_READ,
        )
        for entered in entries:
            due = timer_due_at(rt, _Entered(entered), timer, tz)
            if after is None or due > after:
                return due
        if len(entries) < _ENTRIES_PER_READ:
            return None
        entered_after = entries[-1]


def _fire(rt: Runtime, due: _Due) -> TimerOutcome | None:
    """Fire one due timer; None when the plan changed since the sweep read it (another process
    fired this timer first, or someone acted): nothing to record, and a timer still due is found
    again by the next cycle."""
    subject = timer_subject(due.plan_id, due.trigger)
    try:
        act(
            rt,
            plan_id=due.plan_id,
            trigger=due.trigger,
            actor=None,
            expected_version=due.plan_version,
        )
    except Conflict:  # changed meanwhile, or busy past the lock timeout: the next cycle looks again
        log.info("timer %s of plan #%d: the plan changed meanwhile", due.trigger, due.plan_id)
        return None
    except Exception as error:  # refused, or broken: this plan only; the sweep goes on
        message = describe(error)
        if isinstance(error, PlanflowError):
            log.warning("timer %s of plan #%d refused: %s", due.trigger, due.plan_id, message)
        else:  # a bug or the database: the traceback is what someone needs
            log.exception("timer %s of plan #%d failed: %s", due.trigger, due.plan_id, message)
        failed = Failed(
            subject, CycleStep.TIMER, due.plan_id, due.plan_version, trigger=due.trigger
        )
        record_failure(rt, failed, message)
        return TimerOutcome(due.plan_id, due.trigger, error=message)
    if due.failed_at is not None:
        forget_failure(rt, subject)
    return TimerOutcome(due.plan_id, due.trigger)
