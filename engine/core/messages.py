"""The text of reminder messages, in Chinese, built from plain facts.

The dispatcher gathers what a message needs (the union's name, the plan's title, the recipient's
role, the item or the task) into a `ReminderFacts` and calls `render`, which picks the builder for
the reminder's kind. Builders are pure: no database rows, no clock; dates are shown as "3月8日"
and times in the time zone the caller passes (the plan's). Channels only carry the resulting
`Message`; they never compose text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum


class ReminderKind(StrEnum):
    """What a reminder is about; stored as `reminder.kind`."""

    ITEM_MONTH_START = "item_month_start"
    ITEM_DUE = "item_due"
    ITEM_OVERDUE = "item_overdue"
    TASK_DUE = "task_due"
    TASK_OVERDUE = "task_overdue"
    TASK_ESCALATED = "task_escalated"
    TASK_OPENED = "task_opened"  # 新的待办: a task opened for the recipients (or their turn came)
    PLAN_RETURNED = "plan_returned"  # 计划被退回: to the plan's owners, with the reason


class Audience(StrEnum):
    """Whom an item reminder speaks to (task reminders always address the task's role)."""

    OWNER = "owner"  # the plan's own union: addressed by name, "your item"
    SUPERVISOR = "supervisor"  # an organisation above it (the township): the text names the union


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    # The delivery's unique key. Channels pass it on (a webhook header, the email's Message-ID) so
    # a receiver can drop the one repeat a worker killed mid-send may cause.
    key: str | None = None


@dataclass(frozen=True)
class Recipient:
    """A person a reminder goes to, resolved from the current role holders at send time."""

    username: str
    name: str
    email: str | None = None


@dataclass(frozen=True)
class ItemFacts:
    """The monthly item a reminder is about."""

    month: int  # 1–12
    title: str
    due: date


@dataclass(frozen=True)
class TaskFacts:
    """The task (a step waiting for a decision) a reminder is about."""

    step_title: str  # the state's title, e.g. 镇工会审核
    due: datetime | None  # aware; shown in `ReminderFacts.tz`; None: the step has no due time


@dataclass(frozen=True)
class ReturnFacts:
    """A return: the plan was sent back to its drafters, with the reason."""

    step_title: str  # the step it was returned from, e.g. 镇工会审核
    returned_by: str  # the person's name
    at: datetime  # aware; shown in `ReminderFacts.tz`
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReminderFacts:
    """Everything a message may mention, as plain values.

    Item kinds need `item`, task kinds need `task`, a return needs `returned`; `render` says
    which is missing.
    """

    kind: str  # a `ReminderKind` value
    org_name: str  # the plan's organisation, e.g. 梓山中学工会
    plan_title: str
    recipient_role_title: str  # e.g. 镇工会审核人
    tz: tzinfo  # the plan's time zone, for showing times
    audience: Audience = Audience.OWNER
    item: ItemFacts | None = None
    task: TaskFacts | None = None
    returned: ReturnFacts | None = None


def render(facts: ReminderFacts) -> Message:
    """The message for `facts`; ValueError for an unknown kind or missing facts."""
    try:
        kind = ReminderKind(facts.kind)
    except ValueError:
        known = ", ".join(k.value for k in ReminderKind)
        raise ValueError(f"unknown reminder kind {facts.kind!r}; known kinds: {known}") from None
    return _BUILDERS[kind](facts)


def item_month_start(facts: ReminderFacts) -> Message:
    """A few days before an item's month: what is coming and by when."""
    item = _item(facts)
    about = f"{item.month}月计划事项即将开始"
    return _item_message(facts, about, f"{item.title}（{_day(item.due)}前完成）。")


def item_due(facts: ReminderFacts) -> Message:
    """On an item's due date."""
    item = _item(facts)
    about = f"{item.month}月计划事项今天到期"
    return _item_message(
        facts, about, f"{item.title}（{_day(item.due)}）。完成后请及时报告完成情况。"
    )


def item_overdue(facts: ReminderFacts) -> Message:
    """After an item's due date, while it is not reported done; also to the supervisor."""
    item = _item(facts)
    about = f"{item.month}月计划事项已逾期"
    supervising = facts.audience is Audience.SUPERVISOR
    asks = "请督促其尽快报告完成情况。" if supervising else "请尽快报告完成情况。"
    return _item_message(facts, about, f"{item.title}（应于{_day(item.due)}前完成），{asks}")


def _task_message(facts: ReminderFacts, subject: str, status: Callable[[str], str]) -> Message:
    """A task message: `status` says what became of the step, given its local due time."""
    task = _task(facts)
    state = status(_moment(_due(facts, task), facts.tz))
    return Message(
        subject=f"{subject}：{task.step_title}",
        text=f"{facts.recipient_role_title}：《{facts.plan_title}》的“{task.step_title}”待办{state}",
    )


def task_due(facts: ReminderFacts) -> Message:
    """A nudge (`remind`) while a task is open and not yet due."""
    due = _moment(_due(facts, _task(facts)), facts.tz)
    return _task_message(facts, f"待办将于{due}到期", lambda d: f"将于{d}到期，请及时处理。")


def task_overdue(facts: ReminderFacts) -> Message:
    """A task is past its due time and still open."""
    return _task_message(facts, "待办已逾期", lambda d: f"已逾期（应于{d}前处理），请尽快处理。")


def task_escalated(facts: ReminderFacts) -> Message:
    """To the escalation role: an overdue task has been handed to them."""
    return _task_message(
        facts,
        "逾期待办已转交您处理",
        lambda d: f"逾期未处理（应于{d}前处理），已转交您处理，请尽快办理。",
    )


def task_opened(facts: ReminderFacts) -> Message:
    """A task opened for the recipients (in a `sequence` countersign: their turn came)."""
    task = _task(facts)
    by = "，请及时处理。" if task.due is None else f"，请于{_moment(task.due, facts.tz)}前处理。"
    return Message(
        subject=f"新的待办：{task.step_title}",
        text=f"{facts.recipient_role_title}：《{facts.plan_title}》的“{task.step_title}”"
        f"有新的待办{by}",
    )


def plan_returned(facts: ReminderFacts) -> Message:
    """To the plan's owners: it was sent back to draft, by whom, when and why."""
    returned = facts.returned
    if returned is None:
        raise ValueError(f"a {facts.kind} reminder needs the return's facts (returned=None)")
    if returned.at.tzinfo is None:
        raise ValueError("a return's time must be aware (UTC from the database), not naive")
    reason = returned.reason.strip().rstrip("。.")  # the sentence ends with our own 。
    when = _moment(returned.at, facts.tz)
    return Message(
        subject=f"计划被退回：{facts.plan_title}",
        text=f"{facts.org_name}：《{facts.plan_title}》在“{returned.step_title}”被"
        f"{returned.returned_by}于{when}退回。退回理由：{reason}。请修改后重新提交。",
    )


_BUILDERS: dict[ReminderKind, Callable[[ReminderFacts], Message]] = {
    ReminderKind.ITEM_MONTH_START: item_month_start,
    ReminderKind.ITEM_DUE: item_due,
    ReminderKind.ITEM_OVERDUE: item_overdue,
    ReminderKind.TASK_DUE: task_due,
    ReminderKind.TASK_OVERDUE: task_overdue,
    ReminderKind.TASK_ESCALATED: task_escalated,
    ReminderKind.TASK_OPENED: task_opened,
    ReminderKind.PLAN_RETURNED: plan_returned,
}


def _item_message(facts: ReminderFacts, about: str, rest: str) -> Message:
    """The owner is addressed by name; a supervisor by role, with the union named."""
    if facts.audience is Audience.SUPERVISOR:
        subject = f"{facts.org_name}的{about}"
        return Message(subject=subject, text=f"{facts.recipient_role_title}：{subject}：{rest}")
    return Message(subject=about, text=f"{facts.org_name}：{about}：{rest}")


def _item(facts: ReminderFacts) -> ItemFacts:
    if facts.item is None:
        raise ValueError(f"a {facts.kind} reminder needs the item's facts (item=None)")
    if not 1 <= facts.item.month <= 12:
        raise ValueError(f"month {facts.item.month} is not a month; write 1 to 12")
    return facts.item


def _task(facts: ReminderFacts) -> TaskFacts:
    if facts.task is None:
        raise ValueError(f"a {facts.kind} reminder needs the task's facts (task=None)")
    if facts.task.due is not None and facts.task.due.tzinfo is None:
        raise ValueError("a task's due time must be aware (UTC from the database), not naive")
    return facts.task


def _due(facts: ReminderFacts, task: TaskFacts) -> datetime:
    """The due time a nudge or overdue notice is about; those kinds need one."""
    if task.due is None:
        raise ValueError(f"a {facts.kind} reminder needs the task's due time (due=None)")
    return task.due


def _day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _moment(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{_day(local.date())} {local:%H:%M}"
