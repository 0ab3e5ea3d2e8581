"""The working-day calendar: which days are worked in mainland China, and how durations move time.

`WorkCalendar` answers "is this a working day?" from China's statutory holidays and make-up
workdays (调休) as published by the maintained `holidays` library, with the deployment's local
overrides on top, and turns a template `Duration` into a later (or earlier) moment: hours are
elapsed time, days and weeks keep the local wall-clock time, working days skip weekends and
holidays and count make-up Saturdays and Sundays. It never reads the clock; callers pass moments.
Due dates are computed on every action, so each year's table is built once (per process for the
library's data, per calendar for the overrides) and a lookup is two set probes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

import holidays

from engine.core.durations import Duration, DurationUnit

_COUNTRY = "CN"
_WEEKEND = frozenset({5, 6})  # Saturday, Sunday (date.weekday())


@dataclass(frozen=True)
class _LibraryYear:
    """What the `holidays` library says for one year, without keeping its (large) object."""

    days_off: frozenset[date]  # statutory holidays and days off moved from a weekend
    weekend_workdays: frozenset[date]  # may include days of the previous year (see below)


@dataclass(frozen=True)
class _YearTable:
    """The exceptions to "Monday to Friday" for one year, overrides already applied."""

    days_off: frozenset[date]  # on a weekday: not worked
    weekend_workdays: frozenset[date]  # on a weekend: worked


@cache
def _library_year(year: int) -> _LibraryYear:
    # Shared by every calendar in the process: the library's data does not depend on overrides,
    # and building it costs far more than any lookup. Outside the years the library covers it
    # returns nothing, which leaves plain weekends; that is the best we can know.
    table = holidays.country_holidays(_COUNTRY, years=year)
    return _LibraryYear(
        days_off=frozenset(table.keys()),
        weekend_workdays=frozenset(table.weekend_workdays),
    )


@cache
def _statutory_year(year: int) -> _YearTable:
    # A make-up workday is recorded with the holiday it pays for, which can fall in the next
    # year: 2011-12-31 (a Saturday) was worked for New Year 2012 and is only known once 2012 is
    # loaded. The library's set also carries such dates from unrelated years, so filter by year.
    this_year, next_year = _library_year(year), _library_year(year + 1)
    return _YearTable(
        days_off=frozenset(d for d in this_year.days_off if d.year == year),
        weekend_workdays=frozenset(
            d for d in this_year.weekend_workdays | next_year.weekend_workdays if d.year == year
        ),
    )


class WorkCalendar:
    """Working days in mainland China, with local days off and make-up workdays on top.

    Local overrides win over the library: `extra_workdays` makes a day a working day (a make-up
    day announced after the library was released, or a local arrangement), `extra_holidays` a
    day off. A date may not be in both.
    """

    def __init__(
        self, *, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()
    ) -> None:
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        both = self._extra_holidays & self._extra_workdays
        if both:
            shown = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"{shown}: a day cannot be both an extra holiday and an extra workday")
        self._years: dict[int, _YearTable] = {}

    # Two calendars with the same overrides answer alike: what planning caches for one
    # (`planning._fire_times`) holds for the other.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkCalendar):
            return NotImplemented
        return (self._extra_holidays, self._extra_workdays) == (
            other._extra_holidays,
            other._extra_workdays,
        )

    def __hash__(self) -> int:
        return hash((self._extra_holidays, self._extra_workdays))

    def is_working_day(self, day: date) -> bool:
        table = self._years.get(day.year) or self._load_year(day.year)
        if day.weekday() in _WEEKEND:
            return day in table.weekend_workdays
        return day not in table.days_off

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day` (before it when n < 0); `day` itself when 0.

        `day` need not be a working day: one working day after a Sunday is the next working day.
        """
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def shift(self, moment: datetime, duration: Duration) -> datetime:
        """`moment` moved by `duration`, in `moment`'s time zone.

        `h` adds elapsed hours; `d` and `w` add calendar days and `wd` moves to the n-th working
        day after (before, when negative) the local date, all three keeping the local wall-clock
        time. A wall-clock time that does not exist on the target day (a DST gap) is moved forward
        by the gap. Naive datetimes are refused: the local date would be a guess.
        """
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
        match duration.unit:
            case DurationUnit.HOURS:
                return (moment.astimezone(UTC) + timedelta(hours=duration.amount)).astimezone(
                    moment.tzinfo
                )
            case DurationUnit.DAYS:
                target = moment.date() + timedelta(days=duration.amount)
            case DurationUnit.WEEKS:
                target = moment.date() + timedelta(weeks=duration.amount)
            case DurationUnit.WORKING_DAYS:
                target = self.add_working_days(moment.date(), duration.amount)
        # Same wall-clock time and tzinfo on the target day. The round trip through UTC turns a
        # time that does not exist there (spring-forward gap) into a real one instead of
        # returning a datetime whose wall clock and offset disagree.
        local = datetime.combine(target, moment.timetz(), tzinfo=moment.tzinfo)
        return local.astimezone(UTC).astimezone(moment.tzinfo)

    def _load_year(self, year: int) -> _YearTable:
        statutory = _statutory_year(year)
        in_year_holidays = {d for d in self._extra_holidays if d.year == year}
        in_year_workdays = {d for d in self._extra_workdays if d.year == year}
        table = _YearTable(
            days_off=(statutory.days_off - in_year_workdays) | in_year_holidays,
            weekend_workdays=(statutory.weekend_workdays | in_year_workdays) - in_year_holidays,
        )
        self._years[year] = table
        return table
