"""Year-end reporting: actual values per goal, a status and note per monthly item.

Owners report items while the plan is live (so `unless: item_done` reminders stop) and both goals
and items in any state whose way out needs the reports (`all_goals_reported`,
`all_items_reported`), i.e. the self-evaluation.
"""

from __future__ import annotations

from engine.core.errors import ActionRefused, NotFound
from engine.core.i18n import Message
from engine.core.limits import check_comment, check_finite
from engine.core.template.model import Template
from engine.service.runtime import Runtime
from engine.service.writes import Change, WriteContext, WriteResult, require_owner, write_plan
from engine.store.plan_content import (
    Goal,
    goals_of,
    item_at,
    item_count,
    record_goal_actual,
    record_item_status,
)
from engine.store.statuses import ItemStatus

_REPORT_GUARDS = {"all_goals_reported", "all_items_reported"}


def report_goal(
    rt: Runtime,
    *,
    plan_id: int,
    actor: str,
    goal_key: str,
    actual: float,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> WriteResult:
    check_finite("actual", actual)
    check_comment("note", note)

    def reported(ctx: WriteContext) -> Change:
        _check_reporting(ctx, goals=True)
        goals = goals_of(ctx.tx, plan_id=plan_id)
        goal = next((g for g in goals if g.key == goal_key), None)
        if goal is None:
            raise NotFound(
                "plan #{plan_id} has no goal {goal!r}; its goals: {goals}",
                code="goal.not_found",
                plan_id=plan_id,
                goal=goal_key,
                goals=", ".join(g.key for g in goals),
            )
        check_actual(goal, actual)
        record_goal_actual(ctx.tx, goal_id=goal.id, actual=actual, note=note, at=ctx.now)
        return Change(
            action="report_goal",
            from_state=ctx.plan.state,
            to_state=ctx.plan.state,
            comment=note,
            detail={
                "goal": goal_key,
                "title": goal.title,
                "actual": actual,
                "target": goal.target,
                "unit": goal.unit,
            },
        )

    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": "report_goal", "goal": goal_key, "actual": actual, "note": note},
        change=reported,
        idempotency_key=idempotency_key,
    )


def check_actual(goal: Goal, actual: float) -> None:
    """An actual (finite: `check_finite`) is not below zero unless the goal allows it.

    Goals count things (members, activities, funds): a negative count is a typing error. A goal
    that measures a change or a balance, where a negative result is real, says so with
    `allow_negative: true` in its plan file; the target's sign decides nothing.
    """
    if actual < 0 and not goal.allow_negative:
        raise ActionRefused(
            "the actual of goal '{goal}' ({title}) must not be negative, got {value:g}: the goal "
            "does not allow negative values (its plan file does not set 'allow_negative: true')",
            code="goal.negative_actual",
            goal=goal.key,
            title=goal.title,
            field="actual",
            value=actual,
        )


def report_item(
    rt: Runtime,
    *,
    plan_id: int,
    actor: str,
    item_number: int,
    status: ItemStatus,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> WriteResult:
    """Report on the plan's `item_number`-th monthly item (1-based, as `plan show` lists them)."""
    check_comment("note", note)

    def reported(ctx: WriteContext) -> Change:
        _check_reporting(ctx, goals=False)
        item = item_at(ctx.tx, plan_id=plan_id, position=item_number)
        if item is None:
            raise NotFound(
                "plan #{plan_id} has no item {item}; its items are 1–{count}",
                code="item.not_found",
                plan_id=plan_id,
                item=item_number,
                count=item_count(ctx.tx, plan_id=plan_id),
            )
        check_item_note(status, note, plan_id=plan_id, item_number=item_number)
        record_item_status(ctx.tx, item_id=item.id, status=status.value, note=note, at=ctx.now)
        return Change(
            action="report_item",
            from_state=ctx.plan.state,
            to_state=ctx.plan.state,
            comment=note,
            detail={
                "item": item_number,
                "month": item.month,
                "title": item.title,
                "status": status.value,
            },
        )

    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": "report_item", "item": item_number, "status": status, "note": note},
        change=reported,
        idempotency_key=idempotency_key,
    )


def check_item_note(
    status: ItemStatus, note: str | None, *, plan_id: int, item_number: int
) -> None:
    """An item not (wholly) done needs a note saying why."""
    if status is not ItemStatus.DONE and not (note and note.strip()):
        raise ActionRefused(
            "an item reported as {status} needs a note saying why",
            code="item.note_required",
            plan_id=plan_id,
            item=item_number,
            status=status.value,
            field="note",
        )


def reporting_open(template: Template, state: str, *, goals: bool) -> bool:
    """Whether reports may be made in `state` (items also while the plan is live)."""
    if not goals and template.states[state].items_live:
        return True
    return any(set(t.guards) & _REPORT_GUARDS for t in template.transitions_from(state))


def _check_reporting(ctx: WriteContext, *, goals: bool) -> None:
    require_owner(ctx, Message.of("report on it"))
    refuse_unless_open(ctx, goals=goals)


def refuse_unless_open(ctx: WriteContext, *, goals: bool, **named: str) -> None:
    """Refuse a report of goal actuals (`goals`) or item statuses while the plan's state does not
    take them; `named` adds fields to the refusal (the year-end report names `field`)."""
    template = ctx.workflow.template
    if not reporting_open(template, ctx.plan.state, goals=goals):
        state = template.states[ctx.plan.state]
        raise ActionRefused(
            "{what} cannot be reported while the plan is in {state_title} ({state})",
            code="report.closed",
            plan_id=ctx.plan_id,
            state=state.name,
            state_title=state.title,
            what=Message.of("goal actuals") if goals else Message.of("item statuses"),
            **named,
        )
