"""What the plan page reads: the reminders grouped by item, the template, and whether a goal's
actual meets its target for each comparator."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core.errors import NotFound
from engine.demo.world import DRAFTER, REVIEWER
from engine.service.plan_page import goal_met, plan_page
from engine.service.runtime import Runtime
from engine.store.plan_content import Goal
from tests.world import live_plan, setup_world

CHEN = DRAFTER["zishan-middle-school"]


def goal(comparator: str, actual: float | None, target: float = 100) -> Goal:
    return Goal(
        id=1,
        plan_id=1,
        position=1,
        key="g",
        title="目标",
        target=target,
        unit="人",
        comparator=comparator,
        allow_negative=False,
        actual=actual,
        actual_note=None,
        reported_at=None if actual is None else dt.datetime(2027, 12, 5, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize(
    ("comparator", "actual", "met"),
    [
        (">=", 100, True),
        (">=", 99.5, False),
        ("<=", 100, True),
        ("<=", 101, False),
        ("=", 100, True),
        ("=", 90, False),
        (">=", None, None),
    ],
)
def test_a_goal_is_met_by_its_comparator(
    comparator: str, actual: float | None, met: object
) -> None:
    assert goal_met(goal(comparator, actual)) is met


def test_the_page_has_each_items_reminders_and_stays_in_scope(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = live_plan(rt, items=2)
    page = plan_page(rt, plan_id=plan_id, actor=CHEN)
    assert page.template.name == "annual-work-plan"
    assert sorted(page.item_reminders) == [item.id for item in page.view.items]
    for item in page.view.items:
        reminders = page.item_reminders[item.id]
        assert {r.kind for r in reminders} == {"item_month_start", "item_due", "item_overdue"}
        assert [r.fire_at for r in reminders] == sorted(r.fire_at for r in reminders)
    assert page.transition("submit") is None  # not from executing
    with pytest.raises(NotFound):
        plan_page(rt, plan_id=plan_id, actor=REVIEWER["songshan-town"])
