"""Injected time. The core never reads the clock; callers pass a `Clock`.

`SimulatedClock` is what `planflow demo`, `planflow simulate` and the tests use to move through a
year in seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]  # returns an aware datetime


class SimulatedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("SimulatedClock needs an aware datetime")
        self._now = moment.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self._now += delta
        return self._now
