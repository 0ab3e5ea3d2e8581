"""我的计划 as the service reads it: the plans a person owns (an owner role with the plan in its
scope), newest first, returned ones with the reason; an approver owns none."""

from __future__ import annotations

from engine.demo.world import COUNTY_APPROVERS, DRAFTER, REVIEWER
from engine.service.actions import act
from engine.service.my_plans import my_plans
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.world import setup_world, small_plan

CHEN = DRAFTER["zishan-middle-school"]
ZHAO = REVIEWER["zishan-town"]  # reviews the township's unions and drafts the township's plan


def test_a_reviewer_who_drafts_owns_only_their_own_organisations_plans(rt: Runtime) -> None:
    setup_world(rt)
    school = create_plan(rt, spec=small_plan("zishan-middle-school"), actor=CHEN).plan_id
    town_spec = small_plan("zishan-town", template="township-annual-plan")
    town = create_plan(rt, spec=town_spec, actor=ZHAO).plan_id
    assert [own.plan.id for own in my_plans(rt, actor=ZHAO)] == [town]
    assert [own.plan.id for own in my_plans(rt, actor=CHEN)] == [school]
    assert my_plans(rt, actor=COUNTY_APPROVERS[0]) == []


def test_newest_first_of_a_year_and_a_return_with_its_reason(rt: Runtime) -> None:
    setup_world(rt)
    first = create_plan(rt, spec=small_plan("zishan-middle-school"), actor=CHEN).plan_id
    act(rt, plan_id=first, trigger="submit", actor=CHEN)
    act(rt, plan_id=first, trigger="return", actor=ZHAO, comment="请补充健康体检安排")
    later = create_plan(rt, spec=small_plan("zishan-middle-school", year=2028), actor=CHEN)
    mine = my_plans(rt, actor=CHEN)
    assert [own.plan.id for own in mine] == [later.plan_id, first]
    assert mine[0].returned is None and mine[0].state_title == "草稿"
    returned = mine[1].returned
    assert returned is not None
    assert (returned.by, returned.reason, returned.step_title) == (
        "赵志强",
        "请补充健康体检安排",
        "镇工会审核",
    )
    assert [own.plan.id for own in my_plans(rt, actor=CHEN, year=2027)] == [first]
