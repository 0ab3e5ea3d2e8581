"""What the scheduler's cycle could not do, kept where an operator sees it and the sweeps read it.

A timer, escalation level or hand-over of a plan's stranded tasks (`stranded`) that fails —
refused (a guard, nobody to take the step), a database error on its row, a bug — is recorded
in `cycle_failure`, one row per thing, updated on each retry (attempts, last error, since
when), so a failure repeated every cycle never floods anything.
The sweeps skip it until `retry_at`, backing off from a minute to an hour, and try it after
everything that never failed, so failing plans cannot starve the others. A plan that changes
(someone acted, a timer fired) is tried again at once: its record is deleted as stale. A retry
that succeeds deletes it. `planflow cycle failures` lists what is still stuck; the plan's audit
log is left alone, since nothing happened to the plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from engine.core.errors import PlanflowError, first_line
from engine.service.runtime import Runtime
from engine.store import Database
from engine.store.cycle_failures import (
    CurrentFailure,
    FailureRecord,
    current_failures,
    failure_of,
    save_failure,
)
from engine.store.cycle_failures import forget_failure as delete_failure
from engine.store.cycle_failures import forget_stale_failures as delete_stale_failures
from engine.store.statuses import CycleStep

log = logging.getLogger("planflow.cycle")

FIRST_RETRY = dt.timedelta(minutes=1)
LAST_RETRY = dt.timedelta(hours=1)


def timer_subject(plan_id: int, trigger: str) -> str:
    return f"{CycleStep.TIMER}:{plan_id}:{trigger}"


def escalation_subject(reminder_id: int) -> str:
    return f"{CycleStep.ESCALATION}:{reminder_id}"


def describe(error: Exception) -> str:
    """A refusal's own sentence; anything else (a bug, the database) with its class."""
    if isinstance(error, PlanflowError):
        return error.render("en")  # kept for operators, in English (`planflow cycle failures`)
    # A driver's error says it best.
    cause = Database.cause_of(error)
    return f"{type(error).__name__}: {first_line(cause)}"


def retry_delay(attempts: int) -> dt.timedelta:
    """One minute after the first failure, doubling to at most an hour."""
    doubled: dt.timedelta = FIRST_RETRY * 2 ** min(attempts - 1, 10)
    return min(doubled, LAST_RETRY)


@dataclass(frozen=True)
class Failed:
    """What failed, and the plan's version the failed try saw."""

    subject: str
    step: str
    plan_id: int
    plan_version: int
    trigger: str | None = None
    reminder_id: int | None = None


def record_failure(rt: Runtime, failed: Failed, error: str) -> None:
    """Record (or count again) a failure, in its own transaction; never raises, so that the sweep
    goes on even when the database that failed the try fails this too."""
    now = rt.now()
    try:
        with rt.database.transaction() as tx:
            known = failure_of(tx, subject=failed.subject)
            if known is None or known.plan_version != failed.plan_version:
                attempts, first_failed_at = 1, now
            else:
                attempts, first_failed_at = known.attempts + 1, known.first_failed_at
            save_failure(
                tx,
                failure=FailureRecord(
                    subject=failed.subject,
                    step=known.step if known is not None else failed.step,
                    plan_id=known.plan_id if known is not None else failed.plan_id,
                    plan_version=failed.plan_version,
                    error=error,
                    attempts=attempts,
                    first_failed_at=first_failed_at,
                    last_failed_at=now,
                    retry_at=now + retry_delay(attempts),
                    trigger=failed.trigger,
                    reminder_id=failed.reminder_id,
                ),
            )
    except Exception as record_error:  # (a concurrent sweep recorded it first, the database)
        log.warning("could not record that %s failed: %s", failed.subject, describe(record_error))


def forget_failure(rt: Runtime, subject: str) -> None:
    """A retry succeeded (or the failure was settled otherwise): nothing is stuck any more."""
    with rt.database.transaction() as tx:
        delete_failure(tx, subject=subject)


def forget_stale_failures(rt: Runtime, step: CycleStep) -> None:
    """Delete the records of `step` whose plan has changed since (or whose level was settled)."""
    with rt.database.transaction() as tx:
        delete_stale_failures(tx, step=step)


@dataclass(frozen=True)
class FailureView:
    step: str
    plan_id: int
    org_name: str
    what: str  # the timer's trigger, the escalation level's reminder, or "stranded tasks"
    error: str
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    retry_at: dt.datetime


def _what(row: CurrentFailure) -> str:
    if row.trigger is not None:
        return str(row.trigger)
    if row.reminder_id is not None:
        return f"reminder #{row.reminder_id}"
    return "stranded tasks"  # the hand-over step's: the plan's tasks waiting on who left


def list_failures(rt: Runtime) -> list[FailureView]:
    """Timers, escalation levels and hand-overs still stuck, the longest-stuck first."""
    with rt.database.read() as tx:
        rows = current_failures(tx)
    return [
        FailureView(
            step=row.step,
            plan_id=row.plan_id,
            org_name=row.org_name,
            what=_what(row),
            error=row.error,
            attempts=row.attempts,
            first_failed_at=row.first_failed_at,
            last_failed_at=row.last_failed_at,
            retry_at=row.retry_at,
        )
        for row in rows
    ]
