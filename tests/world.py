"""Test helpers: the demo's world plus small plan specs."""

from __future__ import annotations

from decimal import Decimal

from engine.core.planfile import Comparator, GoalSpec, ItemSpec, PlanSpec, SectionSpec
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, GRASSROOTS, REVIEWER, build_world
from engine.service.actions import act
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_bundled_templates


def setup_world(rt: Runtime) -> None:
    load_bundled_templates(rt)
    build_world(rt)


def small_plan(
    org: str = "zishan-middle-school",
    *,
    year: int = 2027,
    template: str = "annual-work-plan",
    goals: int = 2,
    items: int = 3,
) -> PlanSpec:
    return PlanSpec(
        org=org,
        year=year,
        title=f"{org} {year}年工会工作计划",
        template_name=template,
        template_version=None,
        sections=(SectionSpec(heading="指导思想", body="以职工为中心，扎实推进各项工作。"),),
        goals=tuple(
            GoalSpec(
                key=f"goal-{n}",
                title=f"目标{n}",
                target=Decimal(100 * n),
                unit="人",
                comparator=Comparator.AT_LEAST,
            )
            for n in range(1, goals + 1)
        ),
        items=tuple(
            ItemSpec(month=month, title=f"{month}月活动", detail="", due_day=None)
            for month in range(1, items + 1)
        ),
    )


def live_plan(
    rt: Runtime, org: str = "zishan-middle-school", *, items: int = 3, year: int = 2027
) -> int:
    """A plan of `org` (in the world of `setup_world`) approved all the way to `executing`.

    Its drafter submits it, its township's reviewer approves, and both county approvers sign the
    countersigned county step. Returns the plan id.
    """
    drafter = DRAFTER[org]
    township = GRASSROOTS[org][1]
    spec = small_plan(org, year=year, items=items)
    plan_id = create_plan(rt, spec=spec, actor=drafter).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER[township])
    for approver in COUNTY_APPROVERS:
        act(rt, plan_id=plan_id, trigger="approve", actor=approver)
    return plan_id


def world_with_live_plan(rt: Runtime, *, items: int = 3) -> int:
    """The demo world with one school plan in `executing`; returns its id."""
    setup_world(rt)
    return live_plan(rt, items=items)


# A county countersign in a fixed order (sign: sequence), which a return can end.
SEQUENCE = """\
planflow: 1
name: sequence
version: 1
title: 依次会签
roles:
  drafter: {title: 起草人, scope: own}
  county_approver: {title: 县总工会审批人, scope: subtree}
states:
  draft: {title: 草稿, initial: true}
  approval:
    title: 县总工会依次会签
    task: {role: county_approver, sign: sequence, due: 5d}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: approval, roles: [drafter]}
  - {trigger: approve, from: approval, to: done, roles: [county_approver]}
  - {trigger: return, from: approval, to: draft, roles: [county_approver], comment: required}
"""
