"""Task reminder planning: the new-task notice, nudges before the due time, the overdue notice,
escalation levels; the notices a decision plans (a sequence signer's turn, a return)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engine.core.calendar import WorkCalendar
from engine.core.durations import parse_duration
from engine.core.messages import ReminderKind
from engine.core.planning import (
    TASK_ESCALATION,
    PlannedTaskReminder,
    plan_return_notices,
    plan_task_reminders,
    task_due_at,
    task_turn_notice,
)
from engine.core.template.model import Escalation, TaskSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = WorkCalendar()


def spec(
    due: str | None = None,
    remind: tuple[str, ...] = (),
    escalate: tuple[tuple[str, str], ...] = (),
) -> TaskSpec:
    return TaskSpec(
        role="township_reviewer",
        due=parse_duration(due) if due else None,
        remind=tuple(parse_duration(d) for d in remind),
        escalate=tuple(Escalation(after=parse_duration(a), to=to) for a, to in escalate),
    )


def plan(task: TaskSpec, opened: datetime, tz: ZoneInfo = SHANGHAI) -> list[PlannedTaskReminder]:
    due_at = task_due_at(opened_at=opened, spec=task, tz=tz, calendar=CALENDAR)
    return plan_task_reminders(
        plan_id=7,
        task_id=42,
        opened_at=opened,
        due_at=due_at,
        spec=task,
        tz=tz,
        calendar=CALENDAR,
    )


def shanghai(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


MONDAY = shanghai(2026, 11, 16)  # 09:00 in Shanghai, 01:00 UTC


def test_the_bundled_township_review_task() -> None:
    """annual-work-plan: due 7wd, remind [3d, 6d], escalate {after: 10d, to: county_approver}."""
    task = spec(due="7wd", remind=("3d", "6d"), escalate=(("10d", "county_approver"),))
    planned = plan(task, MONDAY)
    assert [(r.key, r.kind, r.role) for r in planned] == [
        ("p7:t42:opened:township_reviewer", "task_opened", "township_reviewer"),
        ("p7:t42:remind1:township_reviewer", "task_due", "township_reviewer"),
        ("p7:t42:remind2:township_reviewer", "task_due", "township_reviewer"),
        ("p7:t42:overdue:township_reviewer", "task_overdue", "township_reviewer"),
        ("p7:t42:escalate1:county_approver", TASK_ESCALATION, "county_approver"),
    ]
    assert [r.fire_at for r in planned] == [
        MONDAY,  # the new task's notice: at once
        shanghai(2026, 11, 19),
        shanghai(2026, 11, 22),
        shanghai(2026, 11, 25),  # seven working days from Monday: Wednesday of the next week
        shanghai(2026, 11, 26),
    ]
    assert {(r.plan_id, r.task_id) for r in planned} == {(7, 42)}
    assert all(r.fire_at.tzinfo is UTC for r in planned)


def test_nudges_at_or_after_the_due_time_are_left_to_the_overdue_notice() -> None:
    planned = plan(spec(due="2d", remind=("1d", "2d", "3d")), MONDAY)
    assert [(r.key.split(":")[2], r.fire_at) for r in planned] == [
        ("opened", MONDAY),
        ("remind1", shanghai(2026, 11, 17)),
        ("overdue", shanghai(2026, 11, 18)),
    ]


def test_a_task_without_due_time_has_nudges_but_no_overdue_notice() -> None:
    task = spec(remind=("1d", "4d"))
    assert task_due_at(opened_at=MONDAY, spec=task, tz=SHANGHAI, calendar=CALENDAR) is None
    assert [r.kind for r in plan(task, MONDAY)] == [
        ReminderKind.TASK_OPENED,
        ReminderKind.TASK_DUE,
        ReminderKind.TASK_DUE,
    ]


def test_every_task_gets_its_new_task_notice_at_once_even_without_due_or_nudges() -> None:
    opened = shanghai(2026, 12, 1, 0)
    assert [(r.key, r.kind, r.fire_at) for r in plan(spec(), opened)] == [
        ("p7:t42:opened:township_reviewer", ReminderKind.TASK_OPENED, opened),
    ]


def test_working_days_skip_the_national_day_holiday() -> None:
    opened = shanghai(2026, 9, 30, 15)  # the last working day before 国庆
    planned = plan(spec(due="3wd", remind=("1wd",), escalate=(("5wd", "county_approver"),)), opened)
    assert [(r.kind, r.fire_at) for r in planned] == [
        (ReminderKind.TASK_OPENED, opened),
        (ReminderKind.TASK_DUE, shanghai(2026, 10, 8, 15)),  # 1–7 October are off
        (ReminderKind.TASK_OVERDUE, shanghai(2026, 10, 10, 15)),  # a make-up Saturday (调休)
        (TASK_ESCALATION, shanghai(2026, 10, 13, 15)),
    ]


def test_days_keep_the_wall_clock_time_of_the_templates_time_zone() -> None:
    """Across Berlin's spring-forward night, one day later is 09:00 again: 23 hours of UTC."""
    opened = datetime(2026, 3, 28, 9, tzinfo=BERLIN).astimezone(UTC)
    _, overdue = plan(spec(due="1d"), opened, tz=BERLIN)
    assert overdue.fire_at == datetime(2026, 3, 29, 7, tzinfo=UTC)  # 09:00 CEST
    _, overdue = plan(spec(due="24h"), opened, tz=BERLIN)
    assert overdue.fire_at == datetime(2026, 3, 29, 8, tzinfo=UTC)  # elapsed hours: 10:00 CEST


def test_each_escalation_level_counts_from_the_opening_and_names_its_role() -> None:
    task = spec(due="2d", escalate=(("3d", "county_approver"), ("1w", "county_chair")))
    levels = [r for r in plan(task, MONDAY) if r.kind == TASK_ESCALATION]
    assert [(r.key, r.role, r.fire_at) for r in levels] == [
        ("p7:t42:escalate1:county_approver", "county_approver", shanghai(2026, 11, 19)),
        ("p7:t42:escalate2:county_chair", "county_chair", shanghai(2026, 11, 23)),
    ]
    assert TASK_ESCALATION not in {kind.value for kind in ReminderKind}  # never sent as a message


def test_keys_are_stable_and_distinct() -> None:
    task = spec(due="7wd", remind=("3d", "6d"), escalate=(("10d", "a"), ("12d", "b")))
    first, again = plan(task, MONDAY), plan(task, MONDAY)
    assert first == again
    assert len({r.key for r in first}) == len(first) == 6
    assert [r.fire_at for r in first] == sorted(r.fire_at for r in first)


def test_a_sequence_turn_notice_is_keyed_by_its_turn_and_due_at_once() -> None:
    at = shanghai(2026, 12, 3, 14)
    turns = [
        task_turn_notice(plan_id=7, task_id=42, role="county_approver", turn=turn, at=at)
        for turn in (2, 3)
    ]
    assert [(r.key, r.kind, r.task_id, r.fire_at) for r in turns] == [
        ("p7:t42:turn2:county_approver", ReminderKind.TASK_OPENED, 42, at),
        ("p7:t42:turn3:county_approver", ReminderKind.TASK_OPENED, 42, at),
    ]
    opened = plan(spec(), MONDAY)[0]
    assert opened.key not in {r.key for r in turns}


def test_a_return_notifies_each_owner_role_once_keyed_by_the_plan_version() -> None:
    at = shanghai(2026, 11, 25, 15)
    notices = plan_return_notices(
        plan_id=7, version=3, task_id=42, owner_roles=["drafter", "drafter"], at=at
    )
    assert [(r.key, r.kind, r.role, r.task_id, r.fire_at) for r in notices] == [
        ("p7:v3:returned:drafter", ReminderKind.PLAN_RETURNED, "drafter", 42, at),
    ]
    again = plan_return_notices(plan_id=7, version=5, task_id=43, owner_roles=["drafter"], at=at)
    assert again[0].key != notices[0].key  # each return is its own notice
