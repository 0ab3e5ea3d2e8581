"""Reminder planning for monthly items: due dates, fire times in UTC, stable keys, re-planning."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.calendar import WorkCalendar
from engine.core.durations import parse_duration
from engine.core.planning import (
    ItemSchedule,
    PlannedReminder,
    diff_reminders,
    item_due_date,
    plan_item_reminders,
)
from engine.core.template.model import ReminderAnchor, ReminderRule, TimeOfDay

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar()
NINE_AM = TimeOfDay(9, 0)  # the rules' default time of day
MONTH_START, DUE = ReminderAnchor.MONTH_START, ReminderAnchor.DUE

# The reminders of workflows/annual-work-plan.yaml.
ANNUAL_RULES = (
    ReminderRule(
        at=MONTH_START, offset=parse_duration("-3d", allow_negative=True), to=("drafter",)
    ),
    ReminderRule(at=DUE, to=("drafter",)),
    ReminderRule(
        at=DUE,
        offset=parse_duration("7d"),
        to=("drafter", "township_reviewer"),
        unless="item_done",
    ),
)


def rule(
    at: ReminderAnchor,
    offset: str | None = None,
    *,
    to: tuple[str, ...] = ("drafter",),
    time: TimeOfDay = NINE_AM,
) -> ReminderRule:
    duration = parse_duration(offset, allow_negative=True) if offset else None
    return ReminderRule(at=at, offset=duration, to=to, time=time)


def item(item_id: int, month: int, due_day: int | None = None) -> ItemSchedule:
    return ItemSchedule(item_id=item_id, month=month, due_day=due_day, title=f"item {item_id}")


def plan(
    rules: tuple[ReminderRule, ...], items: list[ItemSchedule], year: int = 2027
) -> list[PlannedReminder]:
    return plan_item_reminders(
        plan_id=7, year=year, rules=rules, items=items, tz=SHANGHAI, calendar=CALENDAR
    )


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- item_due_date --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "due_day", "expected"),
    [
        (2027, 3, 8, date(2027, 3, 8)),
        (2027, 1, 31, date(2027, 1, 31)),
        (2027, 4, None, date(2027, 4, 30)),  # no due day: the month's last day
        (2027, 4, 31, date(2027, 4, 30)),  # 31 in a 30-day month
        (2027, 11, 31, date(2027, 11, 30)),
        (2027, 2, None, date(2027, 2, 28)),
        (2027, 2, 29, date(2027, 2, 28)),  # common year
        (2027, 2, 30, date(2027, 2, 28)),
        (2027, 2, 31, date(2027, 2, 28)),
        (2028, 2, 29, date(2028, 2, 29)),  # leap year
        (2028, 2, 30, date(2028, 2, 29)),
        (2028, 2, None, date(2028, 2, 29)),
        (2100, 2, 29, date(2100, 2, 28)),  # divisible by 100, not by 400: common
        (2000, 2, 30, date(2000, 2, 29)),  # divisible by 400: leap
        (2027, 12, None, date(2027, 12, 31)),
    ],
)
def test_item_due_date(year: int, month: int, due_day: int | None, expected: date) -> None:
    assert item_due_date(year, month, due_day) == expected


@pytest.mark.parametrize(("month", "due_day"), [(0, 1), (13, 1), (3, 0), (3, 32), (3, -1)])
def test_item_due_date_rejects_impossible_values(month: int, due_day: int) -> None:
    with pytest.raises(ValueError):
        item_due_date(2027, month, due_day)


# --- fire times -----------------------------------------------------------------------------


def test_nine_in_shanghai_is_one_utc() -> None:
    [reminder] = plan((rule(DUE),), [item(1, 3, 8)])
    assert reminder.fire_at == utc(2027, 3, 8, 1, 0)
    assert reminder.fire_at.tzinfo is UTC


@pytest.mark.parametrize(("year", "expected_day"), [(2027, 26), (2028, 27)])
def test_three_days_before_march_first(year: int, expected_day: int) -> None:
    # 3-1 minus three days: 2-26 in a common year, 2-27 when February has 29 days.
    [reminder] = plan((rule(MONTH_START, "-3d"),), [item(1, 3)], year=year)
    assert reminder.fire_at == utc(year, 2, expected_day, 1, 0)
    assert reminder.anchor is MONTH_START


def test_month_start_in_january_reaches_into_the_previous_year() -> None:
    [reminder] = plan((rule(MONTH_START, "-3d"),), [item(1, 1)])
    assert reminder.fire_at == utc(2026, 12, 29, 1, 0)
    assert reminder.key == "p7:r0:i1:2026-12-29:drafter"


def test_working_day_offset_skips_spring_festival_and_counts_make_up_saturday() -> None:
    # 2026-02-24 is the first working day after the Spring Festival break (2-15 to 2-23);
    # Saturday 2-14 was a make-up workday.
    one, two = (rule(DUE, "-1wd"), rule(DUE, "-2wd"))
    reminders = plan((one, two), [item(1, 2, 24)], year=2026)
    assert [r.fire_at for r in reminders] == [utc(2026, 2, 13, 1, 0), utc(2026, 2, 14, 1, 0)]
    assert [r.rule_index for r in reminders] == [1, 0]


def test_working_day_offset_skips_weekends() -> None:
    # 2027-03-08 is a Monday; two working days before is Thursday 3-4.
    [reminder] = plan((rule(DUE, "-2wd"),), [item(1, 3, 8)])
    assert reminder.fire_at == utc(2027, 3, 4, 1, 0)


def test_month_end_clamping_reaches_the_fire_time() -> None:
    reminders = plan((rule(DUE),), [item(1, 4, 31), item(2, 2, 30), item(3, 9)])
    assert [r.fire_at.date() for r in reminders] == [
        date(2027, 2, 28),
        date(2027, 4, 30),
        date(2027, 9, 30),
    ]


def test_rule_time_of_day_and_local_date_in_key() -> None:
    # 07:30 in Shanghai is 23:30 UTC the day before; the key names the local day.
    [reminder] = plan((rule(DUE, time=TimeOfDay(7, 30)),), [item(4, 6, 15)])
    assert reminder.fire_at == utc(2027, 6, 14, 23, 30)
    assert reminder.key == "p7:r0:i4:2027-06-15:drafter"


def test_one_reminder_per_role_with_distinct_keys() -> None:
    reminders = plan((ANNUAL_RULES[2],), [item(9, 5, 20)])
    assert [(r.role, r.key) for r in reminders] == [
        ("drafter", "p7:r0:i9:2027-05-27:drafter"),
        ("township_reviewer", "p7:r0:i9:2027-05-27:township_reviewer"),
    ]
    assert {r.fire_at for r in reminders} == {utc(2027, 5, 27, 1, 0)}


def test_a_role_listed_twice_is_planned_once() -> None:
    reminders = plan((rule(DUE, to=("drafter", "drafter")),), [item(1, 5)])
    assert len(reminders) == 1


def test_duplicate_item_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        plan((rule(DUE),), [item(1, 5), item(1, 6)])


def test_a_whole_year_under_the_annual_template() -> None:
    items = [
        item(i, month, due_day)
        for i, (month, due_day) in enumerate(
            [(m, None) for m in range(1, 13)] + [(3, 8), (5, 1), (9, 10), (2, 30), (11, 31)],
            start=1,
        )
    ]
    reminders = plan(ANNUAL_RULES, items)
    assert len(reminders) == len(items) * 4
    keys = [r.key for r in reminders]
    assert len(set(keys)) == len(keys)
    assert reminders == sorted(reminders, key=lambda r: (r.fire_at, r.key))
    assert reminders[0].key == "p7:r0:i1:2026-12-29:drafter"
    assert all(r.plan_id == 7 for r in reminders)


def test_planning_is_deterministic() -> None:
    items = [item(1, 3, 8), item(2, 12)]
    assert plan(ANNUAL_RULES, items) == plan(ANNUAL_RULES, list(reversed(items)))


# --- re-planning ----------------------------------------------------------------------------


def test_diff_after_moving_one_due_day() -> None:
    before = plan(ANNUAL_RULES, [item(1, 3, 8), item(2, 5, 1)])
    after = plan(ANNUAL_RULES, [item(1, 3, 15), item(2, 5, 1)])
    to_add, to_cancel = diff_reminders({r.key for r in before}, after)
    # Item 1's month-start reminder did not move; its three due-based reminders did.
    assert {r.key for r in to_add} == {
        "p7:r1:i1:2027-03-15:drafter",
        "p7:r2:i1:2027-03-22:drafter",
        "p7:r2:i1:2027-03-22:township_reviewer",
    }
    assert to_cancel == {
        "p7:r1:i1:2027-03-08:drafter",
        "p7:r2:i1:2027-03-15:drafter",
        "p7:r2:i1:2027-03-15:township_reviewer",
    }


def test_diff_of_an_unchanged_plan_is_empty() -> None:
    reminders = plan(ANNUAL_RULES, [item(1, 3, 8)])
    assert diff_reminders({r.key for r in reminders}, reminders) == ([], set())


def test_diff_cancels_the_reminders_of_a_removed_item() -> None:
    before = plan(ANNUAL_RULES, [item(1, 3, 8), item(2, 5, 1)])
    to_add, to_cancel = diff_reminders({r.key for r in before}, plan(ANNUAL_RULES, [item(2, 5, 1)]))
    assert to_add == []
    assert to_cancel == {r.key for r in before if r.item_id == 1}


# --- properties -----------------------------------------------------------------------------

ROLES = ("drafter", "township_reviewer", "county_approver")

rules_strategy = st.lists(
    st.builds(
        ReminderRule,
        at=st.sampled_from(list(ReminderAnchor)),
        to=st.lists(st.sampled_from(ROLES), min_size=1, max_size=3, unique=True).map(tuple),
        offset=st.one_of(
            st.none(),
            st.sampled_from(["-3d", "7d", "-1w", "2wd", "-5wd", "12h", "-36h"]).map(
                lambda text: parse_duration(text, allow_negative=True)
            ),
        ),
        time=st.builds(
            TimeOfDay, hour=st.integers(min_value=0, max_value=23), minute=st.sampled_from([0, 30])
        ),
    ),
    max_size=4,
)

items_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=12),
        st.one_of(st.none(), st.integers(min_value=1, max_value=31)),
    ),
    max_size=15,
).map(lambda rows: [item(i, month, due_day) for i, (month, due_day) in enumerate(rows, 1)])


@given(
    rules=rules_strategy,
    items=items_strategy,
    year=st.integers(min_value=2024, max_value=2030),
)
def test_planned_reminders_properties(
    rules: list[ReminderRule], items: list[ItemSchedule], year: int
) -> None:
    reminders = plan(tuple(rules), items, year=year)
    assert len(reminders) == len(items) * sum(len(r.to) for r in rules)
    assert all(r.fire_at.tzinfo is UTC for r in reminders)
    keys = [r.key for r in reminders]
    assert len(set(keys)) == len(keys)
    assert reminders == sorted(reminders, key=lambda r: (r.fire_at, r.key))
    # Every reminder lands within a few weeks of its item's month.
    for reminder in reminders:
        month = next(i.month for i in items if i.item_id == reminder.item_id)
        distance = reminder.fire_at.date() - date(year, month, 1)
        assert -20 <= distance.days <= 50
    assert diff_reminders(set(keys), reminders) == ([], set())
