"""Year-end reporting: actual values per goal, a status and note per monthly item.

Owners report items while the plan is live (so `unless: item_done` reminders stop) and both goals
and items in any state whose way out needs the reports (`all_goals_reported`,
`all_items_reported`), i.e. the self-evaluation.
"""

from __future__ import annotations

from sqlmodel import col, select

from engine.core.errors import ActionRefused, NotFound
from engine.core.limits import check_comment, check_finite
from engine.core.template.model import Template
from engine.service.runtime import Runtime
from engine.service.writes import Change, WriteContext, WriteResult, require_owner, write_plan
from engine.store.statuses import ItemStatus
from engine.store.tables import Goal, MonthlyItem

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
        goals = list(ctx.session.exec(select(Goal).where(Goal.plan_id == plan_id)))
        goal = next((g for g in goals if g.key == goal_key), None)
        if goal is None:
            known = ", ".join(g.key for g in goals)
            raise NotFound(f"plan #{plan_id} has no goal {goal_key!r}; its goals: {known}")
        _check_actual(goal, actual)
        goal.actual = actual
        goal.actual_note = note
        goal.reported_at = ctx.now
        ctx.session.add(goal)
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


def _check_actual(goal: Goal, actual: float) -> None:
    """An actual (finite: `check_finite`) is not below zero unless the goal allows it.

    Goals count things (members, activities, funds): a negative count is a typing error. A goal
    that measures a change or a balance, where a negative result is real, says so with
    `allow_negative: true` in its plan file; the target's sign decides nothing.
    """
    if actual < 0 and not goal.allow_negative:
        raise ActionRefused(
            f"the actual of goal '{goal.key}' ({goal.title}) must not be negative, got "
            f"{actual:g}: the goal does not allow negative values (its plan file does not set "
            "'allow_negative: true')"
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
        item = ctx.session.exec(
            select(MonthlyItem).where(
                MonthlyItem.plan_id == plan_id, MonthlyItem.position == item_number
            )
        ).first()
        if item is None:
            count = len(
                ctx.session.exec(
                    select(col(MonthlyItem.id)).where(MonthlyItem.plan_id == plan_id)
                ).all()
            )
            raise NotFound(f"plan #{plan_id} has no item {item_number}; its items are 1–{count}")
        if status is not ItemStatus.DONE and not (note and note.strip()):
            raise ActionRefused(f"an item reported as {status.value} needs a note saying why")
        item.status = status.value
        item.report_note = note
        item.reported_at = ctx.now
        ctx.session.add(item)
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


def reporting_open(template: Template, state: str, *, goals: bool) -> bool:
    """Whether reports may be made in `state` (items also while the plan is live)."""
    if not goals and template.states[state].items_live:
        return True
    return any(set(t.guards) & _REPORT_GUARDS for t in template.transitions_from(state))


def _check_reporting(ctx: WriteContext, *, goals: bool) -> None:
    require_owner(ctx, "report on it")
    template = ctx.workflow.template
    if not reporting_open(template, ctx.plan.state, goals=goals):
        what = "goal actuals" if goals else "item statuses"
        state = template.states[ctx.plan.state]
        raise ActionRefused(
            f"{what} cannot be reported while the plan is in {state.title} ({state.name})"
        )
