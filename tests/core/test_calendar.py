"""WorkCalendar: China's statutory holidays and make-up workdays, local overrides, shifting time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.calendar import WorkCalendar
from engine.core.durations import parse_duration

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CALENDAR = WorkCalendar()


def shanghai(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def shift(moment: datetime, text: str, calendar: WorkCalendar = CALENDAR) -> datetime:
    return calendar.shift(moment, parse_duration(text, allow_negative=True))


# --- what the holidays library says for 2026 (国务院办公厅 2026 arrangement) -----------------


@pytest.mark.parametrize(
    "day",
    [
        # Spring Festival: 2-15 (Sun) to 2-23 (Mon), nine days off.
        *(date(2026, 2, d) for d in range(15, 24)),
        date(2026, 1, 1),  # New Year's Day
        date(2026, 1, 2),  # Friday, moved from Sunday 1-4
        date(2026, 5, 1),
        date(2026, 5, 5),  # Labour Day, 5-1 to 5-5
        date(2026, 6, 19),  # Dragon Boat Festival
        date(2026, 9, 25),  # Mid-Autumn Festival
        *(date(2026, 10, d) for d in range(1, 8)),  # National Day, 10-1 to 10-7
        date(2026, 3, 7),  # an ordinary Saturday
    ],
)
def test_2026_days_off(day: date) -> None:
    assert not CALENDAR.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 4),  # Sunday, make-up for New Year
        date(2026, 2, 14),  # Saturday, make-up for Spring Festival
        date(2026, 2, 28),  # Saturday, make-up for Spring Festival
        date(2026, 5, 9),  # Saturday, make-up for Labour Day
        date(2026, 9, 20),  # Sunday, make-up for National Day
        date(2026, 10, 10),  # Saturday, make-up for National Day
        date(2026, 2, 13),  # the Friday before the Spring Festival break
        date(2026, 2, 24),  # the Tuesday after it
        date(2026, 10, 8),
    ],
)
def test_2026_working_days(day: date) -> None:
    assert CALENDAR.is_working_day(day)


def test_2027_statutory_holidays_are_known() -> None:
    # The library computes 2027 from the holiday rules; the State Council's make-up days for 2027
    # are published late in 2026 and go in `extra_workdays` until the library has them.
    assert not CALENDAR.is_working_day(date(2027, 2, 8))  # Spring Festival
    assert not CALENDAR.is_working_day(date(2027, 10, 1))  # National Day
    assert CALENDAR.is_working_day(date(2027, 3, 1))


def test_make_up_day_in_december_for_next_new_year() -> None:
    # 2011-12-31 (Saturday) was worked for New Year 2012; the library files it under 2012.
    assert CALENDAR.is_working_day(date(2011, 12, 31))
    assert not CALENDAR.is_working_day(date(2012, 1, 3))


# --- local overrides ------------------------------------------------------------------------


def test_extra_workday_makes_a_weekend_or_holiday_worked() -> None:
    calendar = WorkCalendar(extra_workdays=[date(2027, 2, 20), date(2026, 10, 7)])
    assert calendar.is_working_day(date(2027, 2, 20))  # a Saturday
    assert calendar.is_working_day(date(2026, 10, 7))  # a National Day day off


def test_extra_holiday_makes_a_weekday_or_make_up_day_off() -> None:
    calendar = WorkCalendar(extra_holidays=[date(2026, 3, 10), date(2026, 2, 14)])
    assert not calendar.is_working_day(date(2026, 3, 10))  # a Tuesday
    assert not calendar.is_working_day(date(2026, 2, 14))  # a make-up Saturday


def test_overrides_stay_with_their_calendar() -> None:
    WorkCalendar(extra_holidays=[date(2026, 3, 10)]).is_working_day(date(2026, 3, 10))
    assert WorkCalendar().is_working_day(date(2026, 3, 10))


def test_a_day_cannot_be_both_extra_holiday_and_extra_workday() -> None:
    with pytest.raises(ValueError, match="2026-03-10"):
        WorkCalendar(extra_holidays=[date(2026, 3, 10)], extra_workdays=[date(2026, 3, 10)])


# --- add_working_days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # Friday → make-up Saturday
        (date(2026, 2, 13), 2, date(2026, 2, 24)),  # … → over the whole Spring Festival
        (date(2026, 2, 24), -1, date(2026, 2, 14)),
        (date(2026, 2, 24), -2, date(2026, 2, 13)),
        (date(2026, 3, 8), 1, date(2026, 3, 9)),  # from a Sunday
        (date(2026, 3, 8), -1, date(2026, 3, 6)),
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # over New Year and a weekend, into 2027
        (date(2026, 9, 30), 5, date(2026, 10, 13)),  # 10-8, 10-9, Sat 10-10, 10-12, 10-13
        (date(2026, 3, 8), 0, date(2026, 3, 8)),  # zero: the day itself, worked or not
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CALENDAR.add_working_days(start, n) == expected


# --- shift ----------------------------------------------------------------------------------


def test_shift_hours_is_elapsed_time() -> None:
    assert shift(shanghai(2026, 2, 13, 22, 0), "3h") == shanghai(2026, 2, 14, 1, 0)
    assert shift(shanghai(2026, 2, 13, 1, 0), "-2h") == shanghai(2026, 2, 12, 23, 0)


def test_shift_days_and_weeks_keep_wall_clock_time() -> None:
    start = shanghai(2026, 3, 1, 9, 0)
    assert shift(start, "-3d") == shanghai(2026, 2, 26, 9, 0)
    assert shift(start, "2w") == shanghai(2026, 3, 15, 9, 0)
    assert shift(start, "-1w") == shanghai(2026, 2, 22, 9, 0)


def test_shift_working_days_skips_holidays_and_keeps_wall_clock_time() -> None:
    start = shanghai(2026, 2, 13, 23, 30)
    assert shift(start, "1wd") == shanghai(2026, 2, 14, 23, 30)
    assert shift(start, "2wd") == shanghai(2026, 2, 24, 23, 30)
    assert shift(shanghai(2026, 2, 24, 9, 0), "-2wd") == shanghai(2026, 2, 13, 9, 0)


def test_shift_counts_working_days_from_the_local_date() -> None:
    # 2026-02-13 23:30 in Shanghai is 15:30 UTC; the local date (Friday) is what counts.
    start = shanghai(2026, 2, 13, 23, 30)
    result = shift(start, "1wd")
    assert result.tzinfo is SHANGHAI
    assert result.astimezone(UTC) == datetime(2026, 2, 14, 15, 30, tzinfo=UTC)


def test_shift_uses_the_calendars_overrides() -> None:
    calendar = WorkCalendar(extra_holidays=[date(2026, 3, 9)])
    assert shift(shanghai(2026, 3, 6, 9, 0), "1wd", calendar) == shanghai(2026, 3, 10, 9, 0)


def test_shift_across_a_dst_change() -> None:
    # 2026-03-08 is spring-forward day in New York: one calendar day is 23 elapsed hours.
    start = datetime(2026, 3, 7, 9, 0, tzinfo=NEW_YORK)
    assert shift(start, "1d") == datetime(2026, 3, 8, 9, 0, tzinfo=NEW_YORK)
    # Subtract in UTC: Python subtracts datetimes sharing a tzinfo by wall clock.
    assert shift(start, "1d").astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert shift(start, "24h") == datetime(2026, 3, 8, 10, 0, tzinfo=NEW_YORK)


def test_shift_into_a_dst_gap_moves_forward() -> None:
    # 02:30 does not exist on 2026-03-08 in New York.
    result = shift(datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK), "1d")
    assert (result.hour, result.minute) == (3, 30)
    assert result.utcoffset() == timedelta(hours=-4)


def test_shift_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="time zone"):
        shift(datetime(2026, 3, 1, 9, 0), "1d")


# --- properties -----------------------------------------------------------------------------

days_2020s = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(day=days_2020s, n=st.integers(min_value=-40, max_value=40).filter(bool))
def test_add_working_days_lands_on_the_nth_working_day(day: date, n: int) -> None:
    result = CALENDAR.add_working_days(day, n)
    assert CALENDAR.is_working_day(result)
    assert (result > day) == (n > 0)
    low, high = sorted((day, result))
    between = [low + timedelta(days=i) for i in range(1, (high - low).days)]
    # Strictly between `day` and `result` lie exactly |n| - 1 working days: the n-th is `result`.
    assert sum(CALENDAR.is_working_day(d) for d in between) == abs(n) - 1


@given(day=days_2020s, n=st.integers(min_value=1, max_value=40))
def test_working_day_shifts_undo_each_other_from_a_working_day(day: date, n: int) -> None:
    start = CALENDAR.add_working_days(day, 1)
    assert CALENDAR.add_working_days(CALENDAR.add_working_days(start, n), -n) == start


@given(
    moment=st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.just(SHANGHAI),
    ),
    text=st.sampled_from(["-3d", "7d", "2w", "-1w", "5wd", "-2wd", "12h", "-36h"]),
)
def test_shift_returns_an_aware_time_in_the_same_zone(moment: datetime, text: str) -> None:
    result = shift(moment, text)
    assert result.tzinfo is SHANGHAI
    if text.endswith("h"):
        assert result.astimezone(UTC) - moment.astimezone(UTC) == timedelta(hours=int(text[:-1]))
    else:
        assert result.time() == moment.time()
    if text.endswith("wd"):
        assert CALENDAR.is_working_day(result.date())
