"""`planflow demo`: a whole year of plans, through the real service code, in seconds.

On a fresh temporary SQLite database (`demo_runtime`) with a county federation, two townships and
four grassroots unions, it creates the plans in `engine/demo/plans/` (written from the real plan
documents in the seed) and drives them with a simulated clock: submission, a return and
resubmission, a withdrawal, the county's countersign, a year of execution with monthly
reporting, the 1 December timer into self-evaluation, and the county's assessment. It returns
what the year left behind (the audit log as a timeline, the item reminders planned, the plans at
the end) for the CLI to print (`engine/cli/demo.py`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from engine.core.clock import SimulatedClock
from engine.core.errors import PlanflowError
from engine.core.planfile import ItemSpec, PlanSpec, parse_plan_file
from engine.demo import plan_files
from engine.demo.runtime import demo_runtime, local
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, GRASSROOTS, REVIEWER, TOWNSHIPS
from engine.service.actions import act
from engine.service.plan_views import list_plans
from engine.service.plans import create_plan, edit_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.timers import fire_due_timers
from engine.store.progress import plan_goals, plan_items
from engine.store.schedule import item_reminder_times
from engine.store.statuses import ItemStatus
from engine.store.timeline import TimelineEvent, timeline

YEAR = 2027
ASSESSOR = COUNTY_APPROVERS[0]  # assesses every plan, and sees them all


@dataclass
class DemoPlan:
    plan_id: int
    spec: PlanSpec


@dataclass(frozen=True)
class PlanAtYearEnd:
    id: int
    union: str
    state: str
    assessment_score: float | None
    assessment_comment: str | None


@dataclass(frozen=True)
class DemoYear:
    """What the demo's year left behind, for printing."""

    year: int
    timeline: list[TimelineEvent]  # every audit row, oldest first
    state_titles: dict[int, dict[str, str]]  # per template id: each state's title by its name
    item_reminders: list[dt.datetime]  # when each item reminder planned falls due
    plans: list[PlanAtYearEnd]  # in plan order


def demo_year() -> DemoYear:
    """Drive the demo's plans through the year on a temporary database; see the module doc."""
    clock = SimulatedClock(local(YEAR - 1, 11, 2))
    with demo_runtime(clock) as rt:
        plans = _create_plans(rt, clock)
        _review_and_approve(rt, clock, plans)
        _execute_year(rt, clock, plans)
        _evaluate_and_assess(rt, clock, plans)
        return _what_the_year_left(rt)


def _create_plans(rt: Runtime, clock: SimulatedClock) -> dict[str, DemoPlan]:
    plans: dict[str, DemoPlan] = {}
    for day, path in enumerate(plan_files(), start=2):
        clock.set(local(YEAR - 1, 11, day, 10))
        spec = parse_plan_file(path)
        result = create_plan(rt, spec=spec, actor=DRAFTER[spec.org], source=path.name)
        plans[spec.org] = DemoPlan(result.plan_id, spec)
    return plans


def _review_and_approve(rt: Runtime, clock: SimulatedClock, plans: dict[str, DemoPlan]) -> None:
    at = clock.set
    for day, (org, plan) in enumerate(plans.items(), start=16):
        at(local(YEAR - 1, 11, min(day, 20), 9))
        act(rt, plan_id=plan.plan_id, trigger="submit", actor=DRAFTER[org])
    # The bike factory withdraws its plan before review to add an item, then resubmits.
    _send_back_and_resubmit(
        rt,
        clock,
        plans["zishan-bike-factory"],
        trigger="withdraw",
        by="liu-factory",
        comment="补充安全生产月活动后重新提交",
        back_at=local(YEAR - 1, 11, 23, 11),
        resubmit_at=local(YEAR - 1, 11, 24, 9),
        added=ItemSpec(month=6, title="开展“安全生产月”职工安全知识竞赛"),
    )
    # The township returns the middle school's plan; the school amends it and resubmits.
    _send_back_and_resubmit(
        rt,
        clock,
        plans["zishan-middle-school"],
        trigger="return",
        by="zhao-zishan",
        comment="请补充教职工健康体检安排，并明确新会员发展目标的时间节点",
        back_at=local(YEAR - 1, 11, 25, 15),
        resubmit_at=local(YEAR - 1, 11, 27, 10),
        added=ItemSpec(month=4, title="组织教职工健康体检并建立健康档案"),
    )
    # Township review (或签): one reviewer decides.
    for org, (_, township) in GRASSROOTS.items():
        at(local(YEAR - 1, 12, 1, 10))
        act(
            rt,
            plan_id=plans[org].plan_id,
            trigger="approve",
            actor=REVIEWER[township],
            comment="同意，报县总工会审批",
        )
    # County countersign (会签): both approvers sign every grassroots plan.
    for offset, approver in enumerate(COUNTY_APPROVERS):
        at(local(YEAR - 1, 12, 3 + offset * 4, 14))
        for org in GRASSROOTS:
            act(rt, plan_id=plans[org].plan_id, trigger="approve", actor=approver, comment="同意")
    # The townships' own plans go to the county directly (或签).
    at(local(YEAR - 1, 12, 8, 16))
    for org in TOWNSHIPS:
        act(
            rt,
            plan_id=plans[org].plan_id,
            trigger="approve",
            actor="wang-county",
            comment="同意执行",
        )


def _send_back_and_resubmit(
    rt: Runtime,
    clock: SimulatedClock,
    plan: DemoPlan,
    *,
    trigger: str,
    by: str,
    comment: str,
    back_at: dt.datetime,
    resubmit_at: dt.datetime,
    added: ItemSpec,
) -> None:
    """The plan goes back to draft (withdrawn or returned), gains an item and is resubmitted."""
    clock.set(back_at)
    act(rt, plan_id=plan.plan_id, trigger=trigger, actor=by, comment=comment)
    drafter = DRAFTER[plan.spec.org]
    items = sorted((*plan.spec.items, added), key=lambda i: i.month)
    plan.spec = dataclasses.replace(plan.spec, items=tuple(items))
    edit_plan(rt, plan_id=plan.plan_id, spec=plan.spec, actor=drafter)
    clock.set(resubmit_at)
    act(rt, plan_id=plan.plan_id, trigger="submit", actor=drafter)


def _items(rt: Runtime, plan_id: int, month: int) -> list[int]:
    """The numbers of the plan's items of `month`, as a report names them."""
    with rt.database.read() as tx:
        return [item.position for item in plan_items(tx, plan_id=plan_id, month=month)]


def _execute_year(rt: Runtime, clock: SimulatedClock, plans: dict[str, DemoPlan]) -> None:
    """Items are reported at each month's end, a few only partly; then the 1 December timer."""
    for month in range(1, 12):
        clock.set(local(YEAR, month, 28, 17))
        for org, plan in plans.items():
            for number in _items(rt, plan.plan_id, month):
                partly = (number + month) % 7 == 0
                report_item(
                    rt,
                    plan_id=plan.plan_id,
                    actor=DRAFTER[org],
                    item_number=number,
                    status=ItemStatus.PARTLY if partly else ItemStatus.DONE,
                    note="受场地限制，部分完成" if partly else None,
                )
    clock.set(local(YEAR, 12, 1, 0, 5))
    for outcome in fire_due_timers(rt):
        if outcome.error is not None:
            raise PlanflowError(
                "the 1 December timer failed on plan #{plan_id}: {error}",
                code="demo.timer_failed",
                plan_id=outcome.plan_id,
                error=outcome.error,
            )


def _evaluate_and_assess(rt: Runtime, clock: SimulatedClock, plans: dict[str, DemoPlan]) -> None:
    clock.set(local(YEAR, 12, 10, 15))
    for org, plan in plans.items():
        for number in _items(rt, plan.plan_id, 12):
            report_item(
                rt,
                plan_id=plan.plan_id,
                actor=DRAFTER[org],
                item_number=number,
                status=ItemStatus.DONE,
            )
        with rt.database.read() as tx:
            goals = plan_goals(tx, plan_id=plan.plan_id)
        for goal in goals:
            reached = goal.target * 1.05 if goal.comparator == ">=" else goal.target
            report_goal(
                rt,
                plan_id=plan.plan_id,
                actor=DRAFTER[org],
                goal_key=goal.key,
                actual=round(reached, 1),
                note="见年度工作总结",
            )
    clock.set(local(YEAR, 12, 15, 11))
    for org, plan in plans.items():
        act(rt, plan_id=plan.plan_id, trigger="submit_evaluation", actor=DRAFTER[org])
    clock.set(local(YEAR, 12, 22, 10))
    for score, plan in zip((96, 92, 88, 94, 90, 85), plans.values(), strict=False):
        act(
            rt,
            plan_id=plan.plan_id,
            trigger="assess",
            actor=ASSESSOR,
            score=float(score),
            comment="全年计划落实较好，继续加强会员发展工作"
            if score >= 90
            else "部分事项完成不足，明年需加强",
        )


def _what_the_year_left(rt: Runtime) -> DemoYear:
    with rt.database.read() as tx:
        events = timeline(tx)
        titles = {
            template_id: {
                name: state.title
                for name, state in workflow_by_id(rt, tx, template_id).template.states.items()
            }
            for template_id in {event.template_id for event in events}
        }
        reminders = item_reminder_times(tx)
    plans = [
        PlanAtYearEnd(
            id=plan.id or 0,
            union=org.name,
            state=plan.state,
            assessment_score=plan.assessment_score,
            assessment_comment=plan.assessment_comment,
        )
        for plan, org in list_plans(rt, actor=ASSESSOR)
    ]
    return DemoYear(
        year=YEAR,
        timeline=events,
        state_titles=titles,
        item_reminders=reminders,
        plans=sorted(plans, key=lambda plan: plan.id),
    )
