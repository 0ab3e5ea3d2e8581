""" "Possible now" on SQLite and PostgreSQL: `plan show` offers each person exactly what they may
really do, for every role of both bundled templates in every state a plan passes through.

Not `withdraw` to a reviewer (it is the drafter's), not `approve` (nor anything else) to a signer
who already signed this round, nothing to a `sequence` signer before their turn, no trigger a
guard would refuse (`submit_evaluation` before every report is in); and to a drafter the edits and
reports the plan accepts. Each offer is then taken, to show that `act` agrees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, PermissionDenied
from engine.service.actions import act
from engine.service.escalations import fire_due_escalations
from engine.service.inbox import inbox
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.service.timers import fire_due_timers
from engine.store.statuses import ItemStatus
from engine.store.tables import Goal
from tests.world import SEQUENCE, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
SUBMITTED = dt.datetime(2026, 11, 16, 9, tzinfo=TZ)
DECEMBER = dt.datetime(2027, 12, 1, 9, tzinfo=TZ)  # the year-end timer has fired

ANNUAL = ("annual-work-plan", "zishan-middle-school", "chen-school")
TOWNSHIP = ("township-annual-plan", "zishan-town", "zhao-zishan")
# Who reaches each template's plan: its drafter, the township reviewer above a school, and the
# two county approvers (wang-county was granted the role first).
PEOPLE = {
    ANNUAL: ("chen-school", "zhao-zishan", "wang-county", "li-county"),
    TOWNSHIP: ("zhao-zishan", "wang-county", "li-county"),
}

Step = Callable[[Runtime, SimulatedClock, int, str], None]


def _do(trigger: str, actor: str, comment: str | None = None) -> Step:
    def step(rt: Runtime, clock: SimulatedClock, plan_id: int, drafter: str) -> None:
        act(rt, plan_id=plan_id, trigger=trigger, actor=actor, comment=comment)

    return step


def _submit(rt: Runtime, clock: SimulatedClock, plan_id: int, drafter: str) -> None:
    clock.set(SUBMITTED)
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)


def _escalate(rt: Runtime, clock: SimulatedClock, plan_id: int, drafter: str) -> None:
    clock.set(SUBMITTED + dt.timedelta(days=10))  # township_review: escalate {after: 10d}
    assert [o.error for o in fire_due_escalations(rt)] == [None]


def _year_end(rt: Runtime, clock: SimulatedClock, plan_id: int, drafter: str) -> None:
    clock.set(DECEMBER)
    assert [o.error for o in fire_due_timers(rt)] == [None]


def _report_all(rt: Runtime, clock: SimulatedClock, plan_id: int, drafter: str) -> None:
    for number in (1, 2, 3):
        report_item(rt, plan_id=plan_id, actor=drafter, item_number=number, status=ItemStatus.DONE)
    with rt.database.session() as session:
        keys = list(session.exec(select(Goal.key).where(Goal.plan_id == plan_id)))
    for key in keys:
        report_goal(rt, plan_id=plan_id, actor=drafter, goal_key=key, actual=500.0)


DRAFT: list[Step] = []
REVIEW: list[Step] = [_submit]
COUNTY = [*REVIEW, _do("approve", "zhao-zishan")]
COUNTY_SIGNED = [*COUNTY, _do("approve", "wang-county")]
LIVE = [*COUNTY_SIGNED, _do("approve", "li-county")]
EVALUATION = [*LIVE, _year_end]
ASSESSMENT = [*EVALUATION, _report_all, _do("submit_evaluation", "chen-school")]
T_COUNTY: list[Step] = [_submit]
T_LIVE = [*T_COUNTY, _do("approve", "wang-county")]
T_EVALUATION = [*T_LIVE, _year_end]
T_ASSESSMENT = [*T_EVALUATION, _report_all, _do("submit_evaluation", "zhao-zishan")]

EDIT, ITEM, GOAL = "plan edit", "report item", "report goal"
CASES: list[tuple[str, tuple[str, str, str], list[Step], dict[str, list[str]]]] = [
    # --- annual-work-plan: a grassroots union's plan
    (
        "draft",
        ANNUAL,
        DRAFT,
        {"chen-school": ["submit", EDIT], "zhao-zishan": [], "wang-county": [], "li-county": []},
    ),
    (
        "township_review",
        ANNUAL,
        REVIEW,
        {
            "chen-school": ["withdraw"],
            "zhao-zishan": ["approve", "return"],
            # The template lets the county return a plan in township review, never approve it.
            "wang-county": ["return"],
            "li-county": ["return"],
        },
    ),
    (
        "township_review, escalated to the county",
        ANNUAL,
        [*REVIEW, _escalate],
        {
            "chen-school": ["withdraw"],
            "zhao-zishan": ["approve", "return"],
            "wang-county": ["approve", "return"],  # approve as the reviewer would
            "li-county": ["approve", "return"],
        },
    ),
    (
        "county_approval",
        ANNUAL,
        COUNTY,
        {
            "chen-school": [],
            "zhao-zishan": ["return"],
            "wang-county": ["return", "approve"],
            "li-county": ["return", "approve"],
        },
    ),
    (
        "county_approval, wang signed",
        ANNUAL,
        COUNTY_SIGNED,
        {
            "chen-school": [],
            "zhao-zishan": ["return"],
            "wang-county": [],  # signed this round: `act` refuses any decision from him
            "li-county": ["return", "approve"],
        },
    ),
    (
        "executing",
        ANNUAL,
        LIVE,
        {"chen-school": [EDIT, ITEM], "zhao-zishan": [], "wang-county": [], "li-county": []},
    ),
    (
        "self_evaluation, nothing reported",
        ANNUAL,
        EVALUATION,
        {"chen-school": [ITEM, GOAL], "zhao-zishan": [], "wang-county": [], "li-county": []},
    ),
    (
        "self_evaluation, all reported",
        ANNUAL,
        [*EVALUATION, _report_all],
        {
            "chen-school": ["submit_evaluation", ITEM, GOAL],
            "zhao-zishan": [],
            "wang-county": [],
            "li-county": [],
        },
    ),
    (
        "county_assessment",
        ANNUAL,
        ASSESSMENT,
        {
            "chen-school": [],
            "zhao-zishan": [],
            "wang-county": ["reopen_evaluation", "assess"],
            "li-county": ["reopen_evaluation", "assess"],
        },
    ),
    # --- township-annual-plan: the township's own plan, drafted by its reviewer
    (
        "draft",
        TOWNSHIP,
        DRAFT,
        {"zhao-zishan": ["submit", EDIT], "wang-county": [], "li-county": []},
    ),
    (
        "county_approval",
        TOWNSHIP,
        T_COUNTY,
        {
            "zhao-zishan": ["withdraw"],
            "wang-county": ["return", "approve"],
            "li-county": ["return", "approve"],
        },
    ),
    (
        "executing",
        TOWNSHIP,
        T_LIVE,
        {"zhao-zishan": [EDIT, ITEM], "wang-county": [], "li-county": []},
    ),
    (
        "self_evaluation, nothing reported",
        TOWNSHIP,
        T_EVALUATION,
        {"zhao-zishan": [ITEM, GOAL], "wang-county": [], "li-county": []},
    ),
    (
        "self_evaluation, all reported",
        TOWNSHIP,
        [*T_EVALUATION, _report_all],
        {"zhao-zishan": ["submit_evaluation", ITEM, GOAL], "wang-county": [], "li-county": []},
    ),
    (
        "county_assessment",
        TOWNSHIP,
        T_ASSESSMENT,
        {
            "zhao-zishan": [],
            "wang-county": ["reopen_evaluation", "assess"],
            "li-county": ["reopen_evaluation", "assess"],
        },
    ),
]


def _plan_at(
    rt: Runtime, clock: SimulatedClock, which: tuple[str, str, str], steps: list[Step]
) -> int:
    template, org, drafter = which
    plan_id = create_plan(rt, spec=small_plan(org, template=template), actor=drafter).plan_id
    for step in steps:
        step(rt, clock, plan_id, drafter)
    return plan_id


@pytest.mark.parametrize(
    ("stage", "which", "steps", "expected"),
    CASES,
    ids=[f"{which[0]}:{stage}" for stage, which, _, _ in CASES],
)
def test_each_role_is_offered_what_it_may_really_do(
    rt: Runtime,
    clock: SimulatedClock,
    stage: str,
    which: tuple[str, str, str],
    steps: list[Step],
    expected: dict[str, list[str]],
) -> None:
    setup_world(rt)
    plan_id = _plan_at(rt, clock, which, steps)
    assert set(expected) == set(PEOPLE[which])  # every role that reaches the plan is asked
    offered = {user: show_plan(rt, plan_id=plan_id, actor=user).possible for user in expected}
    assert offered == expected
    # The inbox offers a task's holders the same (those who may act now: not a signer who signed).
    for user in expected:
        listed = [entry.triggers for entry in inbox(rt, actor=user) if entry.plan.id == plan_id]
        assert listed in ([], [expected[user]]), user
    if stage.startswith("self_evaluation"):  # the drafter's own task: reports, then submit
        [entry] = [e for e in inbox(rt, actor=which[2]) if e.plan.id == plan_id]
        assert entry.triggers == expected[which[2]]


def test_a_sequence_signer_is_offered_nothing_before_their_turn(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=SEQUENCE, source="sequence.yaml")
    plan_id = create_plan(rt, spec=small_plan(template="sequence"), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")

    def offered() -> dict[str, list[str]]:
        return {
            u: show_plan(rt, plan_id=plan_id, actor=u).possible
            for u in ("wang-county", "li-county")
        }

    assert offered() == {"wang-county": ["approve", "return"], "li-county": []}
    with pytest.raises(ActionRefused, match="it is 王建国's turn first"):
        act(rt, plan_id=plan_id, trigger="return", actor="li-county", comment="x")
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert offered() == {"wang-county": [], "li-county": ["approve", "return"]}
    with pytest.raises(ActionRefused, match="you already signed"):
        act(rt, plan_id=plan_id, trigger="return", actor="wang-county", comment="x")


@pytest.mark.parametrize("which", [ANNUAL, TOWNSHIP], ids=lambda w: w[0])
def test_every_trigger_not_offered_is_refused(
    rt: Runtime, clock: SimulatedClock, which: tuple[str, str, str]
) -> None:
    """On the way to `executing`, each person tries every trigger they were not offered (with a
    comment and a score): `act` refuses each, and the plan does not change."""
    setup_world(rt)
    plan_id = _plan_at(rt, clock, which, [])
    triggers = {"submit", "withdraw", "approve", "return", "submit_evaluation", "assess"}
    for step in [*(LIVE if which is ANNUAL else T_LIVE), None]:
        version = show_plan(rt, plan_id=plan_id, actor=which[2]).plan.version
        for user in PEOPLE[which]:
            offered = set(show_plan(rt, plan_id=plan_id, actor=user).possible)
            for trigger in sorted(triggers - offered):
                with pytest.raises((ActionRefused, PermissionDenied)):
                    act(rt, plan_id=plan_id, trigger=trigger, actor=user, comment="x", score=90)
        assert show_plan(rt, plan_id=plan_id, actor=which[2]).plan.version == version
        if step is not None:
            step(rt, clock, plan_id, which[2])
