"""`planflow demo`: a whole year of plans, through the real service code, in seconds.

On a fresh temporary SQLite database it builds a county federation with two townships and four
grassroots unions, loads the bundled templates, creates the plans in `engine/demo/plans/`
(written from the real plan documents in the seed), and drives them with a simulated clock:
submission, a return and resubmission, a withdrawal, the county's countersign, a year of
execution with monthly reporting, the 1 December timer into self-evaluation, and the county's
assessment. It then prints the timeline from the audit log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from config.settings import Settings
from engine.cli.output import table
from engine.core.clock import SimulatedClock
from engine.core.planfile import ItemSpec, PlanSpec, parse_plan_file
from engine.demo import plan_files
from engine.demo.world import (
    COUNTY_APPROVERS,
    DRAFTER,
    GRASSROOTS,
    REVIEWER,
    TOWNSHIPS,
    build_world,
)
from engine.service import templates
from engine.service.actions import act
from engine.service.plan_views import list_plans
from engine.service.plans import create_plan, edit_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime, open_runtime
from engine.service.templates import workflow_by_id
from engine.service.timers import fire_due_timers
from engine.store.migrate import upgrade
from engine.store.statuses import ItemStatus
from engine.store.tables import AuditEvent, Goal, MonthlyItem, Organisation, Plan, Reminder, User

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2027
Echo = Callable[[str], object]


@dataclasses.dataclass
class DemoPlan:
    plan_id: int
    spec: PlanSpec


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


@contextmanager
def demo_runtime(clock: SimulatedClock) -> Iterator[Runtime]:
    """A fresh temporary SQLite database with the bundled templates and the demo's world.

    Shared by `planflow demo` and `planflow simulate`; the database is removed on leaving.
    """
    with tempfile.TemporaryDirectory(prefix="planflow-demo-") as folder:
        rt = open_runtime(
            Settings(database_url=f"sqlite:///{Path(folder) / 'demo.db'}"), clock=clock
        )
        try:
            upgrade(rt.database)
            templates.load_bundled_templates(rt)
            build_world(rt)
            yield rt
        finally:
            rt.database.dispose()


def run_demo(*, echo: Echo = print) -> None:
    started = time.perf_counter()
    clock = SimulatedClock(local(YEAR - 1, 11, 2))
    with demo_runtime(clock) as rt:
        echo(f"Planflow demo: a county federation's {YEAR} work plans, on a simulated clock\n")
        plans = _create_plans(rt, clock)
        _review_and_approve(rt, clock, plans)
        _execute_year(rt, clock, plans)
        _evaluate_and_assess(rt, clock, plans)
        _print_timeline(rt, echo)
        _print_summary(rt, echo)
    echo(f"\ndone in {time.perf_counter() - started:.1f} s (wall clock)")


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


def _items(rt: Runtime, plan_id: int, month: int) -> list[MonthlyItem]:
    with rt.database.session() as session:
        return list(
            session.exec(
                select(MonthlyItem).where(
                    MonthlyItem.plan_id == plan_id, MonthlyItem.month == month
                )
            )
        )


def _execute_year(rt: Runtime, clock: SimulatedClock, plans: dict[str, DemoPlan]) -> None:
    """Items are reported at each month's end, a few only partly; then the 1 December timer."""
    for month in range(1, 12):
        clock.set(local(YEAR, month, 28, 17))
        for org, plan in plans.items():
            for item in _items(rt, plan.plan_id, month):
                partly = (item.position + month) % 7 == 0
                report_item(
                    rt,
                    plan_id=plan.plan_id,
                    actor=DRAFTER[org],
                    item_number=item.position,
                    status=ItemStatus.PARTLY if partly else ItemStatus.DONE,
                    note="受场地限制，部分完成" if partly else None,
                )
    clock.set(local(YEAR, 12, 1, 0, 5))
    for outcome in fire_due_timers(rt):
        if outcome.error is not None:
            raise RuntimeError(f"timer on plan #{outcome.plan_id} failed: {outcome.error}")


def _evaluate_and_assess(rt: Runtime, clock: SimulatedClock, plans: dict[str, DemoPlan]) -> None:
    clock.set(local(YEAR, 12, 10, 15))
    for org, plan in plans.items():
        for item in _items(rt, plan.plan_id, 12):
            report_item(
                rt,
                plan_id=plan.plan_id,
                actor=DRAFTER[org],
                item_number=item.position,
                status=ItemStatus.DONE,
            )
        with rt.database.session() as session:
            goals = list(session.exec(select(Goal).where(Goal.plan_id == plan.plan_id)))
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
            actor="wang-county",
            score=float(score),
            comment="全年计划落实较好，继续加强会员发展工作"
            if score >= 90
            else "部分事项完成不足，明年需加强",
        )


def _print_timeline(rt: Runtime, echo: Echo) -> None:
    echo("Timeline, from the audit log (item and goal reports are counted per month below)")
    with rt.database.session() as session:
        names = {u.id: u.name for u in session.exec(select(User))}
        plans = {
            p.id: (p, o) for p, o in session.exec(select(Plan, Organisation).join(Organisation))
        }
        events = list(
            session.exec(select(AuditEvent).order_by(col(AuditEvent.at), col(AuditEvent.id)))
        )
        titles = {
            plan_id: workflow_by_id(rt, session, plan.template_id).template.states
            for plan_id, (plan, _) in plans.items()
        }
    reports: Counter[str] = Counter()
    rows = []
    for event in events:
        when = event.at.astimezone(TZ)
        if event.action in {"report_item", "report_goal"}:
            reports[f"{when:%Y-%m}"] += 1
            continue
        states = titles[event.plan_id]
        before = states[event.from_state].title if event.from_state else "·"
        after = states[event.to_state or ""].title
        move = f"{before} → {after}" if event.from_state != event.to_state else f"（仍在{after}）"
        rows.append(
            (
                f"{when:%Y-%m-%d %H:%M}",
                plans[event.plan_id][1].name,
                names.get(event.actor_id, "?") if event.actor_id else "系统(定时)",
                event.action,
                move,
                event.comment or "",
            )
        )
    table(["time", "union", "who", "action", "state", "comment"], rows, echo=echo, indent="  ")
    echo("\nReports filed per month: " + ", ".join(f"{m}: {n}" for m, n in sorted(reports.items())))


def _print_summary(rt: Runtime, echo: Echo) -> None:
    per_month: Counter[str] = Counter()
    with rt.database.session() as session:
        for fire_at, count in session.exec(
            select(Reminder.fire_at, func.count())
            .where(col(Reminder.item_id).is_not(None))  # not task reminders and notices
            .group_by(col(Reminder.fire_at))
        ):
            per_month[f"{fire_at.astimezone(TZ):%Y-%m}"] += count
    echo("Item reminders planned while the plans were live, by month they fall due:")
    echo("  " + ", ".join(f"{m}: {n}" for m, n in sorted(per_month.items())))
    echo("\nPlans at the end of the year")
    rows = [
        (plan.id, org.name, plan.state, f"{plan.assessment_score:g}", plan.assessment_comment)
        for plan, org in sorted(list_plans(rt, actor="wang-county"), key=lambda r: r[0].id or 0)
    ]
    table(["#", "union", "state", "score", "assessment"], rows, echo=echo, indent="  ")
