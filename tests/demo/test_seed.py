"""The seed of `planflow serve --demo` (engine/demo/seed.py) on an empty database, both engines:
the demo world with its logins, and plans in the states the pages need to show."""

from __future__ import annotations

from engine.demo.seed import (
    DEMO_PASSWORD,
    RETURN_REASON,
    demo_logins,
    holds_demo_people,
    is_empty,
    seed,
)
from engine.service import directory
from engine.service.inbox import inbox
from engine.service.passwords import password_matches
from engine.service.plan_views import show_plan
from engine.service.runtime import Runtime


def test_an_empty_database_gets_the_world_every_login_and_plans_in_each_state(
    rt: Runtime,
) -> None:
    assert is_empty(rt) and not holds_demo_people(rt)
    seeded = seed(rt)

    assert not is_empty(rt) and holds_demo_people(rt)
    assert seeded.year == 2027  # the clock is in November 2026: next year's plans
    with rt.database.read() as tx:
        for login in demo_logins():
            user = directory.find_any_user(tx, login.username)
            assert password_matches(tx, user_id=user.id, password=DEMO_PASSWORD), login.username
    states = {plan.drafter: plan.state for plan in seeded.plans}
    assert states == {
        "chen-school": "draft",
        "liu-factory": "draft",
        "zhou-hospital": "township_review",
        "wu-college": "county_approval",
        "sun-songshan": "county_approval",
        "zhao-zishan": "executing",
    }


def test_the_returned_plan_carries_its_reason_and_the_countersign_waits_on_one(
    rt: Runtime,
) -> None:
    plans = {plan.drafter: plan for plan in seed(rt).plans}

    returned = show_plan(rt, plan_id=plans["liu-factory"].id, actor="liu-factory").returned
    assert returned is not None and returned.by_username == "zhao-zishan"
    assert returned.reason == RETURN_REASON
    draft = show_plan(rt, plan_id=plans["chen-school"].id, actor="chen-school")
    assert draft.returned is None and "submit" in draft.possible
    # The college's countersign: wang-county has signed, li-county has not.
    waiting = {entry.plan.id for entry in inbox(rt, actor="li-county")}
    signed = {entry.plan.id for entry in inbox(rt, actor="wang-county")}
    assert plans["wu-college"].id in waiting - signed
    assert plans["zhou-hospital"].id in {e.plan.id for e in inbox(rt, actor="sun-songshan")}
