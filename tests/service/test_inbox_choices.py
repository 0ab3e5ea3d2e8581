"""The inbox's filter choices: the steps with a task in the loaded templates, and the townships
below the reader (organisations with organisations below them; not the top one)."""

from __future__ import annotations

from engine.demo.world import COUNTY_APPROVERS, DRAFTER, REVIEWER
from engine.service.inbox_choices import inbox_choices
from engine.service.runtime import Runtime
from tests.world import setup_world


def test_the_county_chooses_among_both_townships_a_township_its_own(rt: Runtime) -> None:
    setup_world(rt)
    county = inbox_choices(rt, actor=COUNTY_APPROVERS[0])
    assert [org.code for org in county.townships] == ["songshan-town", "zishan-town"]
    assert [org.code for org in inbox_choices(rt, actor=REVIEWER["zishan-town"]).townships] == [
        "zishan-town"
    ]
    assert inbox_choices(rt, actor=DRAFTER["zishan-middle-school"]).townships == []


def test_the_steps_are_those_with_a_task_in_template_order(rt: Runtime) -> None:
    setup_world(rt)
    states = inbox_choices(rt, actor=COUNTY_APPROVERS[0]).states
    assert [name for name, _ in states] == [
        "township_review",
        "county_approval",
        "self_evaluation",
        "county_assessment",
    ]
    assert dict(states)["township_review"] == "镇工会审核"
