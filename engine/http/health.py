"""What `GET /healthz` reports: the database's schema revision and the scheduler's state.

Kept apart from the app so that the CLI's long-running commands can make the same database check
at start (`check_database`).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from engine.core.errors import first_line
from engine.service.publishing import publishing_backlog
from engine.service.runtime import Runtime
from engine.store.database import Database
from engine.store.migrate import current_revision, head_revision


class DatabaseHealth(BaseModel):
    reachable: bool
    revision: str | None  # the database's Alembic revision; None when not initialised
    expected: str | None  # this Planflow's newest revision
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.reachable and self.revision == self.expected


class SchedulerHealth(BaseModel):
    running: bool
    leader: bool  # this process is the scheduler doing the work now
    lock: str  # leader, standby, redis unreachable, no lock (embedded)
    cycles: int
    last_cycle_at: dt.datetime | None
    last_cycle: str | None  # the cycle's one-line summary, or why it failed


class PublishingHealth(BaseModel):
    """Reminder batches waiting in the outbox for the broker (or the in-process sender)."""

    waiting_batches: int
    waiting_since: dt.datetime | None
    failed_tries: int  # of the most tried waiting batch: one per cycle
    stalled: bool  # failed for a few cycles in a row: the reminders sit queued
    error: str | None  # why the last try failed


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mode: Literal["embedded", "celery"]
    database: DatabaseHealth
    publishing: PublishingHealth | None  # None: the database could not be read
    scheduler: SchedulerHealth | None  # None: this process runs no scheduler
    # Timers and escalation levels that keep failing (`planflow cycle failures`): plans that need
    # an operator, not a sick system, so they do not make the status degraded. None: unread.
    stuck: int | None = None


def check_database(database: Database) -> DatabaseHealth:
    """Whether the database answers and has this Planflow's schema."""
    expected = head_revision()
    try:
        revision = current_revision(database)
    except OperationalError as error:
        return DatabaseHealth(
            reachable=False, revision=None, expected=expected, error=first_line(error.orig)
        )
    return DatabaseHealth(reachable=True, revision=revision, expected=expected)


def check_publishing(rt: Runtime) -> PublishingHealth:
    """What waits to be published; read from the database, so any process sees a stall."""
    backlog = publishing_backlog(rt)
    if backlog is None:
        return PublishingHealth(
            waiting_batches=0, waiting_since=None, failed_tries=0, stalled=False, error=None
        )
    return PublishingHealth(
        waiting_batches=backlog.batches,
        waiting_since=backlog.waiting_since,
        failed_tries=backlog.attempts,
        stalled=backlog.stalled,
        error=backlog.last_error,
    )
