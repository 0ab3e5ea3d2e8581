"""The year-end report as one write: goal actuals and item statuses, all of them in one
transaction with one audit row (`write_plan`), or none of them.

The self-evaluation page and `PUT /api/plans/{id}/report` send a whole report at once; written
report by report (`reporting.report_goal`, `report_item`), a refusal partway would keep the
reports before it. Each line is checked as `reporting` checks it (`check_actual`,
`check_item_note`, the limits of a note), every line before anything is written, and a refusal
names the line in its `field` (`goals.members.actual`, `items[2].note`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.core.errors import ActionRefused, PlanflowError
from engine.core.i18n import Message
from engine.core.limits import check_comment, check_finite
from engine.service.reporting import check_actual, check_item_note, refuse_unless_open
from engine.service.runtime import Runtime
from engine.service.writes import Change, WriteContext, WriteResult, require_owner, write_plan
from engine.store.plan_content import (
    Goal,
    Item,
    goals_of,
    items_of,
    record_goal_actual,
    record_item_status,
)
from engine.store.statuses import ItemStatus

ACTION = "report_year_end"


@dataclass(frozen=True)
class GoalReport:
    key: str
    actual: float
    note: str | None = None


@dataclass(frozen=True)
class ItemReport:
    """An item named as people name it, by month and title (unique within a plan)."""

    month: int
    title: str
    status: ItemStatus
    note: str | None = None


def report_year_end(
    rt: Runtime,
    *,
    plan_id: int,
    actor: str,
    goals: Sequence[GoalReport] = (),
    items: Sequence[ItemReport] = (),
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Record every report given, in one write; refused whole if any line is wrong."""
    if not (goals or items):
        raise ActionRefused(
            "the report is empty: give a goal's actual or an item's status",
            code="report.empty",
            plan_id=plan_id,
            field="goals",
        )
    for n, goal in enumerate(goals):
        with _named(f"goals.{goal.key}"):
            check_finite("actual", goal.actual)
            check_comment("note", goal.note)
        _refuse_twice([g.key for g in goals[:n]], goal.key, f"goals.{goal.key}")
    for n, item in enumerate(items):
        with _named(f"items[{n}]"):
            check_comment("note", item.note)
        earlier = [(i.month, i.title) for i in items[:n]]
        _refuse_twice(earlier, (item.month, item.title), f"items[{n}]")

    def reported(ctx: WriteContext) -> Change:
        require_owner(ctx, Message.of("report on it"))
        _check_open(ctx, goals=bool(goals), items=bool(items))
        by_key = {g.key: g for g in goals_of(ctx.tx, plan_id=plan_id)}
        by_name = {(i.month, i.title): i for i in items_of(ctx.tx, plan_id=plan_id)}
        found_goals = [(report, _goal(ctx, by_key, report)) for report in goals]
        found_items = [
            (n, report, _item(ctx, by_name, report, n)) for n, report in enumerate(items)
        ]
        for goal_report, goal in found_goals:
            with _named(f"goals.{goal_report.key}"):
                check_actual(goal, goal_report.actual)
        for n, item_report, row in found_items:
            with _named(f"items[{n}]"):
                check_item_note(
                    item_report.status, item_report.note, plan_id=plan_id, item_number=row.position
                )
        detail: dict[str, Any] = {}
        for goal_report, goal in found_goals:
            record_goal_actual(
                ctx.tx,
                goal_id=goal.id,
                actual=goal_report.actual,
                note=goal_report.note,
                at=ctx.now,
            )
        for _, item_report, row in found_items:
            record_item_status(
                ctx.tx,
                item_id=row.id,
                status=item_report.status.value,
                note=item_report.note,
                at=ctx.now,
            )
        if goals:
            detail["goals"] = {
                r.key: {"actual": r.actual, "target": g.target, "unit": g.unit}
                | ({"note": r.note} if r.note else {})
                for r, g in found_goals
            }
        if items:
            detail["items"] = [
                {"item": row.position, "month": row.month, "title": row.title, "status": r.status}
                | ({"note": r.note} if r.note else {})
                for _, r, row in found_items
            ]
        state = ctx.plan.state
        return Change(action=ACTION, from_state=state, to_state=state, detail=detail)

    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={
            "action": ACTION,
            "goals": [[g.key, g.actual, g.note] for g in goals],
            "items": [[i.month, i.title, i.status.value, i.note] for i in items],
        },
        change=reported,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
    )


def _refuse_twice(before: list[Any], name: Any, field: str) -> None:
    if name in before:
        raise ActionRefused(
            "{line} is reported twice in the same report",
            code="report.twice",
            line=field,
            field=field,
        )


@contextmanager
def _named(line: str) -> Iterator[None]:
    """A refusal of a line's check names the line (`goals.members.actual`)."""
    try:
        yield
    except PlanflowError as error:
        inner = error.fields.get("field")
        error.fields["field"] = f"{line}.{inner}" if isinstance(inner, str) else line
        raise


def _check_open(ctx: WriteContext, *, goals: bool, items: bool) -> None:
    for wanted, of_goals in ((goals, True), (items, False)):
        if wanted:
            refuse_unless_open(ctx, goals=of_goals, field="goals" if of_goals else "items")


def _goal(ctx: WriteContext, by_key: dict[str, Goal], report: GoalReport) -> Goal:
    goal = by_key.get(report.key)
    if goal is None:  # refused as a line of the report, not as a missing address (404)
        raise ActionRefused(
            "plan #{plan_id} has no goal {goal!r}; its goals: {goals}",
            code="goal.not_found",
            plan_id=ctx.plan_id,
            goal=report.key,
            goals=", ".join(by_key),
            field=f"goals.{report.key}",
        )
    return goal


def _item(
    ctx: WriteContext, by_name: dict[tuple[int, str], Item], report: ItemReport, n: int
) -> Item:
    item = by_name.get((report.month, report.title))
    if item is None:
        raise ActionRefused(
            "plan #{plan_id} has no item {item!r} in month {month}",
            code="item.not_found",
            plan_id=ctx.plan_id,
            item=report.title,
            month=report.month,
            field=f"items[{n}]",
        )
    return item
