"""The scheduler cycle's failure record (`cycle_failure`): what could not be done, and when to try
again. One row per thing that fails (its `subject`), updated on each retry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import select

from engine.store import cycle_statements as sql
from engine.store.driver import Transaction
from engine.store.statuses import CycleStep
from engine.store.tables import CycleFailure


@dataclass(frozen=True)
class FailureRecord:
    subject: str  # `timer:{plan}:{trigger}`, `escalation:{reminder}`, …
    step: str
    plan_id: int
    plan_version: int  # the version the failed try saw
    error: str
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    retry_at: dt.datetime
    trigger: str | None = None  # a timer's
    reminder_id: int | None = None  # an escalation level's


@dataclass(frozen=True)
class CurrentFailure:
    """A failure that still holds, as an operator lists it."""

    step: str
    plan_id: int
    org_name: str
    trigger: str | None
    reminder_id: int | None
    error: str
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    retry_at: dt.datetime


def failure_of(tx: Transaction, *, subject: str) -> FailureRecord | None:
    row = tx.session.exec(select(CycleFailure).where(CycleFailure.subject == subject)).first()
    if row is None:
        return None
    return FailureRecord(
        subject=row.subject,
        step=row.step,
        plan_id=row.plan_id,
        plan_version=row.plan_version,
        error=row.error,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        retry_at=row.retry_at,
        trigger=row.trigger,
        reminder_id=row.reminder_id,
    )


def save_failure(tx: Transaction, *, failure: FailureRecord) -> None:
    """Write the failure over the record of its subject, or as a new one."""
    session = tx.session
    row = session.exec(select(CycleFailure).where(CycleFailure.subject == failure.subject)).first()
    if row is None:
        row = CycleFailure(
            subject=failure.subject,
            step=failure.step,
            plan_id=failure.plan_id,
            plan_version=failure.plan_version,
            error=failure.error,
        )
    row.step, row.plan_id, row.plan_version = failure.step, failure.plan_id, failure.plan_version
    row.trigger, row.reminder_id, row.error = failure.trigger, failure.reminder_id, failure.error
    row.attempts, row.first_failed_at = failure.attempts, failure.first_failed_at
    row.last_failed_at, row.retry_at = failure.last_failed_at, failure.retry_at
    session.add(row)
    session.flush()


def forget_failure(tx: Transaction, *, subject: str) -> None:
    tx.connection.execute(sql.FORGET_FAILURE, {"subject": subject})


def forget_stale_failures(tx: Transaction, *, step: CycleStep) -> None:
    """Delete the records of `step` whose plan has changed since (or whose level was settled)."""
    statement = (
        sql.FORGET_STALE_TIMER_FAILURES
        if step == CycleStep.TIMER
        else sql.FORGET_STALE_ESCALATION_FAILURES
    )
    tx.connection.execute(statement)


def current_failures(tx: Transaction) -> list[CurrentFailure]:
    """Failures that still hold (their plan unchanged since), the longest-stuck first."""
    return [CurrentFailure(*tuple(row)) for row in tx.connection.execute(sql.CURRENT_FAILURES)]
