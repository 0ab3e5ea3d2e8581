"""What every use case needs: the database, the clock, the calendar and compiled workflows."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from config.settings import Settings
from engine.core.calendar import WorkCalendar
from engine.core.clock import Clock
from engine.core.template.compile import Workflow
from engine.store import Database


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WorkflowCache:
    """One compiled `Workflow` per stored template row, built on first use.

    Keyed by the template row id, whose (name, version, content) never changes once stored, so
    entries never go stale; the number of template versions is small, so nothing is evicted.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, Workflow] = {}
        self._lock = threading.Lock()

    def get(self, template_id: int) -> Workflow | None:
        return self._by_id.get(template_id)

    def put(self, template_id: int, workflow: Workflow) -> Workflow:
        with self._lock:
            return self._by_id.setdefault(template_id, workflow)


@dataclass
class Runtime:
    database: Database
    settings: Settings
    clock: Clock = system_clock
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    workflows: WorkflowCache = field(default_factory=WorkflowCache)

    @property
    def default_timezone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def now(self) -> dt.datetime:
        return self.clock()


def open_runtime(settings: Settings, *, clock: Clock = system_clock) -> Runtime:
    """A runtime for `settings`; the calendar honours the local holiday overrides."""
    return Runtime(
        database=Database(
            settings.database_url, lock_timeout_seconds=settings.lock_timeout_seconds
        ),
        settings=settings,
        clock=clock,
        calendar=WorkCalendar(
            extra_holidays=settings.extra_holidays, extra_workdays=settings.extra_workdays
        ),
    )
