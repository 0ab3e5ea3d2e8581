"""The year-end self-evaluation form as data: an actual and a note per goal, a status and a note
per monthly item, filled in with what is reported already, and the reports a submit asks for.

Fields are named after what they report: `goal_actual_KEY`, `goal_note_KEY` (the goal's key),
`item_status_N`, `item_note_N` (the item's number, as the plan page lists them). A submit is
checked whole before anything is written, with the service's own checks (`reporting`), so a
refused one writes nothing; it then asks only for what changed. A field left blank that was
never reported stays unreported; one that was cannot be taken back (the service keeps reports).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.core.errors import PlanflowError
from engine.core.i18n import Message, use_language
from engine.core.limits import check_comment, check_finite
from engine.http.pages.errors import PAGE_LANGUAGE
from engine.service.plan_views import PlanView
from engine.service.reporting import check_actual, check_item_note
from engine.store.plan_content import Goal, Item
from engine.store.statuses import ItemStatus

NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
STATUSES = (
    (ItemStatus.DONE.value, "已完成"),
    (ItemStatus.PARTLY.value, "部分完成"),
    (ItemStatus.NOT_DONE.value, "未完成"),
)


@dataclass
class GoalLine:
    goal: Goal
    actual: str  # as typed
    note: str

    @property
    def names(self) -> tuple[str, str]:
        return f"goal_actual_{self.goal.key}", f"goal_note_{self.goal.key}"


@dataclass
class ItemLine:
    item: Item
    status: str  # "" (not reported) or an `ItemStatus` value
    note: str

    @property
    def names(self) -> tuple[str, str]:
        return f"item_status_{self.item.position}", f"item_note_{self.item.position}"


@dataclass(frozen=True)
class GoalReport:
    key: str
    actual: float
    note: str | None


@dataclass(frozen=True)
class ItemReport:
    number: int
    status: ItemStatus
    note: str | None


@dataclass
class ReportForm:
    """The form's lines (goals only while goal actuals may be reported) and, after a refused
    submit, the problems by field name (`goal_actual_members`), the rest in `general`."""

    goals: list[GoalLine]
    items: list[ItemLine]
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        lines: list[GoalLine | ItemLine] = [*self.goals, *self.items]
        return {name for line in lines for name in line.names}

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.general)

    def refuse(self, name: str | None, error: PlanflowError | Message) -> None:
        with use_language(PAGE_LANGUAGE):
            message = error.message if isinstance(error, PlanflowError) else error.render()
        if name is None:
            self.general.append(message)
        else:
            self.errors.setdefault(name, message)


def report_form(view: PlanView, *, goals: bool, items: bool) -> ReportForm:
    """The form filled in with the plan's reports so far."""
    return ReportForm(
        goals=[
            GoalLine(g, "" if g.actual is None else _number_text(g.actual), g.actual_note or "")
            for g in view.goals
        ]
        if goals
        else [],
        items=[ItemLine(i, i.status or "", i.report_note or "") for i in view.items]
        if items
        else [],
    )


def fill(form: ReportForm, values: Mapping[str, str]) -> None:
    """Put the submitted values in the form (a field not sent counts as blank)."""
    for goal in form.goals:
        actual, note = goal.names
        goal.actual, goal.note = values.get(actual, ""), values.get(note, "")
    for item in form.items:
        status, note = item.names
        item.status, item.note = values.get(status, ""), values.get(note, "")


def reports_of(form: ReportForm) -> tuple[list[GoalReport], list[ItemReport]]:
    """What the filled-in form asks to report (only what changed); problems go on `form`."""
    goals = [_goal_report(form, line) for line in form.goals]
    items = [_item_report(form, line) for line in form.items]
    return [g for g in goals if g is not None], [i for i in items if i is not None]


def _goal_report(form: ReportForm, line: GoalLine) -> GoalReport | None:
    goal, (actual_name, note_name) = line.goal, line.names
    text, note = line.actual.strip(), line.note.strip() or None
    if not text:
        if goal.actual is not None:
            form.refuse(actual_name, Message.of("a reported actual cannot be taken back"))
        elif note is not None:
            form.refuse(actual_name, Message.of("give the actual this note is about"))
        return None
    if not NUMBER.fullmatch(text) or len(text) > 30:
        form.refuse(
            actual_name, Message.of("give a number like 300 or 98.5, got {value!r}", value=text)
        )
        return None
    actual = float(text)
    try:
        check_finite("actual", actual)
        check_actual(goal, actual)
    except PlanflowError as error:
        form.refuse(actual_name, error)
        return None
    try:
        check_comment("note", note)
    except PlanflowError as error:
        form.refuse(note_name, error)
        return None
    if (actual, note) == (goal.actual, goal.actual_note or None):
        return None
    return GoalReport(goal.key, actual, note)


def _item_report(form: ReportForm, line: ItemLine) -> ItemReport | None:
    item, (status_name, note_name) = line.item, line.names
    note = line.note.strip() or None
    if not line.status:
        if item.status is not None:
            form.refuse(status_name, Message.of("a reported status cannot be taken back"))
        elif note is not None:
            form.refuse(status_name, Message.of("choose how far the item was done"))
        return None
    if line.status not in {value for value, _ in STATUSES}:
        form.refuse(status_name, Message.of("there is no item status {value!r}", value=line.status))
        return None
    status = ItemStatus(line.status)
    try:
        check_comment("note", note)
        check_item_note(status, note, plan_id=item.plan_id, item_number=item.position)
    except PlanflowError as error:
        form.refuse(note_name, error)
        return None
    if (status.value, note) == (item.status, item.report_note or None):
        return None
    return ItemReport(item.position, status, note)


def _number_text(value: float) -> str:
    """150 rather than 150.0; 98.5 as it is."""
    return str(int(value)) if value.is_integer() else repr(value)
