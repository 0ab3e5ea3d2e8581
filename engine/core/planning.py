"""Pure reminder planning: which reminder rows a plan's monthly items need, and when they fire.

Given a template's reminder rules, a plan's monthly items, the time zone and a `WorkCalendar`,
`plan_item_reminders` computes every reminder occurrence as plain data with a fire time in UTC
and a stable key. The service stores them as rows (DESIGN.md §2: reminders are rows, not
scheduler jobs) and, after an edit, re-plans and applies `diff_reminders` so that unchanged
occurrences keep their rows and delivery records. Nothing here reads the clock or checks a
rule's `unless` condition; both belong to the sweep that sends reminders.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from engine.core.calendar import WorkCalendar
from engine.core.durations import Duration, DurationUnit
from engine.core.template.model import ReminderAnchor, ReminderRule

_NO_OFFSET = Duration(0, DurationUnit.HOURS)


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
    planned: list[PlannedReminder] = []
    for item in items:
        for rule_index, rule in enumerate(rules):
            local = _local_fire_time(year=year, item=item, rule=rule, tz=tz, calendar=calendar)
            fire_at = local.astimezone(UTC)
            # The local date, not the UTC one, names the occurrence: it is the day people see,
            # and it changes only when the schedule really moves.
            occurrence = f"p{plan_id}:r{rule_index}:i{item.item_id}:{local.date().isoformat()}"
            planned.extend(
                PlannedReminder(
                    key=f"{occurrence}:{role}",
                    plan_id=plan_id,
                    rule_index=rule_index,
                    item_id=item.item_id,
                    role=role,
                    anchor=rule.at,
                    fire_at=fire_at,
                )
                for role in dict.fromkeys(rule.to)
            )
    planned.sort(key=lambda reminder: (reminder.fire_at, reminder.key))
    return planned


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
