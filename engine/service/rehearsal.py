"""The clock of a rehearsal: `PLANFLOW_REHEARSAL_TIME` instead of the system's.

A real deployment reaches the year end when the calendar does. To rehearse it earlier (the
README's tour, a training database), every command of the rehearsal runs at one pretended
moment, and that moment is what the audit log, tasks and reminders record. It is a fixed clock,
not a moving one, so a rehearsal moves forward only when the setting is changed, and it may never
move back: a moment before the last recorded event is refused, so no plan's trail runs backwards
and a database that has been used in real time cannot be rewritten into the past.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from config.settings import Settings
from engine.core.clock import Clock, SimulatedClock
from engine.core.errors import ConfigurationError
from engine.service.runtime import Runtime
from engine.store.plan_views import last_event_at


def rehearsal_clock(settings: Settings) -> Clock | None:
    """A clock fixed at the rehearsal time, or None for the system clock."""
    moment = settings.rehearsal_time
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.timezone))
    return SimulatedClock(moment)


def refuse_going_back(rt: Runtime) -> None:
    """Refuse a rehearsal time earlier than anything the database has recorded."""
    if rt.settings.rehearsal_time is None:
        return
    now = rt.now()
    with rt.database.read() as tx:
        last = last_event_at(tx)
    if last is not None and last.replace(tzinfo=last.tzinfo or dt.UTC) > now:
        tz = ZoneInfo(rt.settings.timezone)
        raise ConfigurationError(
            "PLANFLOW_REHEARSAL_TIME={value:%Y-%m-%dT%H:%M%z} is before the last recorded event "
            "({last:%Y-%m-%dT%H:%M%z}); time cannot go back",
            code="rehearsal.time_goes_back",
            field="PLANFLOW_REHEARSAL_TIME",
            value=now.astimezone(tz),
            last=last.astimezone(tz),
        )
