"""Pure reminder planning: which reminder rows a plan's monthly items and tasks need, and when.

Given a template's reminder rules, a plan's monthly items, the time zone and a `WorkCalendar`,
`plan_item_reminders` computes every reminder occurrence as plain data with a fire time in UTC
and a stable key. The service stores them as rows (DESIGN.md §2: reminders are rows, not
scheduler jobs) and, after an edit, re-plans and applies `diff_reminders` so that unchanged
occurrences keep their rows and delivery records. `plan_task_reminders` does the same for a task
when it opens: the "new task" notice, its `remind` nudges, the overdue notice and one row per
escalation level, which the escalation sweep acts on instead of sending. `task_turn_notice` and
`plan_return_notices` are the notices a decision plans: the next signer's turn in a `sequence`
countersign, and a return to the plan's drafters. Nothing here reads the clock or checks a rule's
`unless` condition; both belong to the sweeps.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from engine.core.calendar import WorkCalendar
from engine.core.durations import Duration, DurationUnit
from engine.core.messages import ReminderKind
from engine.core.template.model import ReminderAnchor, ReminderRule, TaskSpec

_NO_OFFSET = Duration(0, DurationUnit.HOURS)

# The kind of a reminder row that is an escalation level to carry out, not a message: the
# escalation sweep opens a task for it (and plans the `task_escalated` notice). Not a
# `ReminderKind`, so the dispatch sweep never sends it.
TASK_ESCALATION = "task_escalation"


@dataclass(frozen=True)
class ItemSchedule:
    """The part of a monthly item that decides its reminders."""

    item_id: int
    month: int  # 1–12
    due_day: int | None  # None: the month's last day
    title: str


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder occurrence for one recipient role."""

    key: str  # stable across re-planning; unique per (plan, rule, item, occurrence, role)
    plan_id: int
    rule_index: int  # position in the template's `reminders`, to find `unless` at send time
    item_id: int
    role: str
    anchor: ReminderAnchor
    fire_at: datetime  # aware, UTC


@dataclass(frozen=True)
class PlannedTaskReminder:
    """One occurrence for an open task: a nudge, the overdue notice, or an escalation level."""

    key: str  # stable; unique per (plan, task, occurrence, role)
    plan_id: int
    # The task it is about (for an escalation: the task to escalate; for a return: the step's
    # task it closed, None when the step had none).
    task_id: int | None
    kind: str  # a task `ReminderKind` (or PLAN_RETURNED), or TASK_ESCALATION
    role: str  # the recipients' role (for an escalation: the role it escalates to)
    fire_at: datetime  # aware, UTC


def item_due_date(year: int, month: int, due_day: int | None) -> date:
    """The day a monthly item is due: `due_day` of the month, or its last day.

    A `due_day` past the month's end (31 in a 30-day month, 29–31 in February) means "the end of
    the month", so it is clamped to the last day instead of spilling into the next month.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not a month; write 1 to 12")
    last_day = gregorian.monthrange(year, month)[1]
    if due_day is None:
        return date(year, month, last_day)
    if not 1 <= due_day <= 31:
        raise ValueError(f"due day {due_day} is not a day of a month; write 1 to 31")
    return date(year, month, min(due_day, last_day))


def item_reminder_kind(rule: ReminderRule) -> ReminderKind:
    """Which message an item rule sends; after the due day it is an overdue notice."""
    if rule.at is ReminderAnchor.MONTH_START:
        return ReminderKind.ITEM_MONTH_START
    late = rule.offset is not None and rule.offset.amount > 0
    return ReminderKind.ITEM_OVERDUE if late else ReminderKind.ITEM_DUE


def plan_item_reminders(
    *,
    plan_id: int,
    year: int,
    rules: Sequence[ReminderRule],
    items: Sequence[ItemSchedule],
    tz: ZoneInfo,
    calendar: WorkCalendar,
) -> list[PlannedReminder]:
    """Every reminder occurrence for `items` under `rules`, sorted by (fire_at, key).

    Each rule fires at its anchor day (the first of the item's month, or the item's due date) at
    the rule's local `time` in `tz`, moved by its `offset` with `calendar.shift`, once per role
    in `rule.to` (a role listed twice is planned once: the key could not tell the two apart).
    """
    item_ids = [item.item_id for item in items]
    if len(set(item_ids)) != len(item_ids):
        raise ValueError(f"plan {plan_id}: monthly item ids must be unique, got {item_ids}")
    table = _fire_times(year, tuple(rules), tz, calendar)
    planned: list[PlannedReminder] = []
    for item in items:
        schedule = (item.month, item.due_day)
        occurrences = table.get(schedule)
        if occurrences is None:
            occurrences = table[schedule] = _item_occurrences(year, item, rules, tz, calendar)
        for rule_index, day, fire_at, anchor, roles in occurrences:
            # The local date, not the UTC one, names the occurrence: it is the day people see,
            # and it changes only when the schedule really moves.
            occurrence = f"p{plan_id}:r{rule_index}:i{item.item_id}:{day}"
            planned.extend(
                PlannedReminder(
                    key=f"{occurrence}:{role}",
                    plan_id=plan_id,
                    rule_index=rule_index,
                    item_id=item.item_id,
                    role=role,
                    anchor=anchor,
                    fire_at=fire_at,
                )
                for role in roles
            )
    planned.sort(key=lambda reminder: (reminder.fire_at, reminder.key))
    return planned


# (rule index, local date in ISO form, fire time in UTC, anchor, roles without repeats)
_Occurrence = tuple[int, str, datetime, ReminderAnchor, tuple[str, ...]]


@lru_cache(maxsize=256)
def _fire_times(
    year: int, rules: tuple[ReminderRule, ...], tz: ZoneInfo, calendar: WorkCalendar
) -> dict[tuple[int, int | None], tuple[_Occurrence, ...]]:
    """The occurrences of `rules` in `year` for each item schedule (month, due day), filled as
    schedules are met. Planning is pure: the same rules, year, zone and calendar give every plan
    the same local times, so they are worked out once per process (a calendar's days do not
    change once it is made). Bounded: at most 12 × 32 schedules per entry, 256 entries."""
    return {}


def _item_occurrences(
    year: int,
    item: ItemSchedule,
    rules: Sequence[ReminderRule],
    tz: ZoneInfo,
    calendar: WorkCalendar,
) -> tuple[_Occurrence, ...]:
    found = []
    for rule_index, rule in enumerate(rules):
        local = _local_fire_time(year=year, item=item, rule=rule, tz=tz, calendar=calendar)
        roles = tuple(dict.fromkeys(rule.to))  # a role listed twice is planned once
        found.append((rule_index, local.date().isoformat(), local.astimezone(UTC), rule.at, roles))
    return tuple(found)


def task_due_at(
    *, opened_at: datetime, spec: TaskSpec, tz: ZoneInfo, calendar: WorkCalendar
) -> datetime | None:
    """When a task opened at `opened_at` is due (UTC), counted in `tz`; None without `due`."""
    return _after(opened_at, spec.due, tz, calendar) if spec.due is not None else None


def plan_task_reminders(
    *,
    plan_id: int,
    task_id: int,
    opened_at: datetime,
    due_at: datetime | None,
    spec: TaskSpec,
    tz: ZoneInfo,
    calendar: WorkCalendar,
) -> list[PlannedTaskReminder]:
    """The reminders of a task that opened at `opened_at`, sorted by (fire_at, key).

    A `task_opened` notice at once (the dispatcher sends it to the task's holders, or the signers
    whose turn it is), one `task_due` nudge per `remind` duration after the opening (those at or
    after `due_at` are left out: the overdue notice says more), one `task_overdue` at `due_at`
    when there is one, and one `TASK_ESCALATION` per level of `escalate`, each counted from the
    opening. Durations move local time in `tz` with `calendar.shift`, as due dates do. Numbers in
    keys count from 1.
    """
    prefix = f"p{plan_id}:t{task_id}"
    role = spec.role
    planned: list[PlannedTaskReminder] = []

    def add(occurrence: str, kind: str, to: str, fire_at: datetime) -> None:
        planned.append(
            PlannedTaskReminder(
                key=f"{prefix}:{occurrence}:{to}",
                plan_id=plan_id,
                task_id=task_id,
                kind=kind,
                role=to,
                fire_at=fire_at,
            )
        )

    add("opened", ReminderKind.TASK_OPENED, role, opened_at.astimezone(UTC))
    for number, duration in enumerate(spec.remind, start=1):
        fire_at = _after(opened_at, duration, tz, calendar)
        if due_at is None or fire_at < due_at:
            add(f"remind{number}", ReminderKind.TASK_DUE, role, fire_at)
    if due_at is not None:
        add("overdue", ReminderKind.TASK_OVERDUE, role, due_at.astimezone(UTC))
    for level, escalation in enumerate(spec.escalate, start=1):
        fire_at = _after(opened_at, escalation.after, tz, calendar)
        add(f"escalate{level}", TASK_ESCALATION, escalation.to, fire_at)
    planned.sort(key=lambda reminder: (reminder.fire_at, reminder.key))
    return planned


def task_turn_notice(
    *, plan_id: int, task_id: int, role: str, turn: int, at: datetime
) -> PlannedTaskReminder:
    """The `task_opened` notice for the `turn`-th signer (from 2) of a `sequence` countersign,
    planned when the one before signs; sent at once to whoever's turn it is then."""
    return _task_notice(plan_id, task_id, role, f"turn{turn}", at)


def task_handover_notice(
    *, plan_id: int, task_id: int, role: str, version: int, at: datetime
) -> PlannedTaskReminder:
    """The `task_opened` notice of a task handed over when a holder left (the write that makes
    the plan's `version`): sent at once to whoever holds the task, or whose turn it is, then."""
    return _task_notice(plan_id, task_id, role, f"handover{version}", at)


def _task_notice(
    plan_id: int, task_id: int, role: str, label: str, at: datetime
) -> PlannedTaskReminder:
    return PlannedTaskReminder(
        key=f"p{plan_id}:t{task_id}:{label}:{role}",
        plan_id=plan_id,
        task_id=task_id,
        kind=ReminderKind.TASK_OPENED,
        role=role,
        fire_at=at.astimezone(UTC),
    )


def plan_return_notices(
    *, plan_id: int, version: int, task_id: int | None, owner_roles: Sequence[str], at: datetime
) -> list[PlannedTaskReminder]:
    """One `plan_returned` notice per owner role, due at once, for the return that makes the
    plan's `version`; the dispatcher reads the reason from that return's audit row."""
    return [
        PlannedTaskReminder(
            key=f"p{plan_id}:v{version}:returned:{role}",
            plan_id=plan_id,
            task_id=task_id,
            kind=ReminderKind.PLAN_RETURNED,
            role=role,
            fire_at=at.astimezone(UTC),
        )
        for role in sorted(set(owner_roles))
    ]


def _after(start: datetime, duration: Duration, tz: ZoneInfo, calendar: WorkCalendar) -> datetime:
    """`start` moved by `duration` in the local time of `tz` (days keep the wall clock), in UTC."""
    return calendar.shift(start.astimezone(tz), duration).astimezone(UTC)


def diff_reminders(
    existing_keys: set[str], planned: list[PlannedReminder]
) -> tuple[list[PlannedReminder], set[str]]:
    """What re-planning changes: (reminders to add, keys of existing reminders to cancel).

    Keys present on both sides are left alone, so a reminder already sent is not sent again.
    """
    planned_keys = {reminder.key for reminder in planned}
    to_add = [reminder for reminder in planned if reminder.key not in existing_keys]
    return to_add, existing_keys - planned_keys


def _local_fire_time(
    *, year: int, item: ItemSchedule, rule: ReminderRule, tz: ZoneInfo, calendar: WorkCalendar
) -> datetime:
    if rule.at is ReminderAnchor.MONTH_START:
        anchor_day = date(year, item.month, 1)
    else:
        anchor_day = item_due_date(year, item.month, item.due_day)
    anchor = datetime.combine(anchor_day, time(rule.time.hour, rule.time.minute), tzinfo=tz)
    # Without an offset we still shift by zero: that settles a wall-clock time that does not
    # exist on the anchor day (a DST gap) the same way offsets do.
    return calendar.shift(anchor, rule.offset if rule.offset is not None else _NO_OFFSET)
