"""Only valid input gets in, and nothing given is silently dropped: on SQLite and PostgreSQL.

Each refusal leaves the plan exactly as it was (state, version, audit trail, stored values).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, NotFound
from engine.core.planfile import Comparator, GoalSpec, ItemSpec
from engine.service.actions import act
from engine.service.plan_views import list_plans, show_plan
from engine.service.plans import create_plan, edit_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.timers import fire_due_timers
from engine.store.statuses import ItemStatus
from engine.store.tables import AuditEvent
from tests.world import live_plan, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
DRAFTER, REVIEWER, APPROVER = "chen-school", "zhao-zishan", "wang-county"


def audit_count(rt: Runtime, plan_id: int) -> int:
    with rt.database.session() as session:
        return session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.plan_id == plan_id)
        ).one()


def in_self_evaluation(rt: Runtime, clock: SimulatedClock) -> int:
    """A school plan (in the world of `setup_world`) that has reached its self-evaluation."""
    plan_id = live_plan(rt)
    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    assert [fired.error for fired in fire_due_timers(rt)] == [None]
    return plan_id


def in_assessment(rt: Runtime, clock: SimulatedClock) -> int:
    """A school plan waiting for the county's assessment (score: required)."""
    plan_id = in_self_evaluation(rt, clock)
    for key in ("goal-1", "goal-2"):
        report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key=key, actual=150)
    for number in (1, 2, 3):
        report_item(rt, plan_id=plan_id, actor=DRAFTER, item_number=number, status=ItemStatus.DONE)
    act(rt, plan_id=plan_id, trigger="submit_evaluation", actor=DRAFTER)
    return plan_id


@pytest.mark.parametrize("score", [150.0, -5.0, math.nan, math.inf])
def test_a_score_outside_0_to_100_closes_nothing(
    rt: Runtime, clock: SimulatedClock, score: float
) -> None:
    setup_world(rt)
    plan_id = in_assessment(rt, clock)
    before = show_plan(rt, plan_id=plan_id, actor=APPROVER).plan
    events = audit_count(rt, plan_id)
    expected = "'assess' needs a score from 0 to 100" if math.isfinite(score) else "finite number"
    with pytest.raises(ActionRefused, match=expected):
        act(rt, plan_id=plan_id, trigger="assess", actor=APPROVER, comment="好", score=score)
    after = show_plan(rt, plan_id=plan_id, actor=APPROVER).plan
    assert (after.state, after.version, after.assessment_score) == (
        "county_assessment",
        before.version,
        None,
    )
    assert audit_count(rt, plan_id) == events
    closed = act(rt, plan_id=plan_id, trigger="assess", actor=APPROVER, comment="好", score=100)
    assert closed.to_state == "closed"


def test_a_score_on_an_action_that_takes_none_is_refused(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor=DRAFTER).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER)
    with pytest.raises(ActionRefused, match="'approve' takes no score; leave out --score"):
        act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER, score=90)
    assert show_plan(rt, plan_id=plan_id, actor=DRAFTER).plan.state == "township_review"


@pytest.mark.parametrize("actual", [-1.0, -0.001, math.nan, math.inf, -math.inf])
def test_a_goal_actual_that_is_negative_or_not_finite_is_refused(
    rt: Runtime, clock: SimulatedClock, actual: float
) -> None:
    setup_world(rt)
    plan_id = in_self_evaluation(rt, clock)
    events = audit_count(rt, plan_id)
    with pytest.raises(ActionRefused) as refused:
        report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key="goal-1", actual=actual)
    expected = (
        "the actual must be a finite number"
        if not math.isfinite(actual)
        else "the actual of goal 'goal-1' (目标1) must not be negative"
    )
    assert expected in refused.value.message
    assert audit_count(rt, plan_id) == events
    assert show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals[0].actual is None
    report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key="goal-1", actual=0)
    assert show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals[0].actual == 0


def with_goal(rt: Runtime, clock: SimulatedClock, goal: GoalSpec) -> int:
    """A school plan with `goal` after the two of `small_plan`, in its self-evaluation."""
    setup_world(rt)
    spec = small_plan()
    plan_id = create_plan(
        rt, spec=dataclasses.replace(spec, goals=(*spec.goals, goal)), actor=DRAFTER
    ).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER)
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER)
    for approver in ("wang-county", "li-county"):
        act(rt, plan_id=plan_id, trigger="approve", actor=approver)
    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    fire_due_timers(rt)
    return plan_id


@pytest.mark.parametrize("target", [Decimal(-5), Decimal(0), Decimal(2)])
def test_a_goal_that_allows_negative_values_takes_negative_actuals(
    rt: Runtime, clock: SimulatedClock, target: Decimal
) -> None:
    """A goal that measures a change or a balance says so with `allow_negative`, whatever its
    target; the goals beside it still refuse negative actuals."""
    surplus = GoalSpec(
        key="surplus-change",
        title="经费结余变化",
        target=target,
        unit="万元",
        comparator=Comparator.AT_LEAST,
        allow_negative=True,
    )
    plan_id = with_goal(rt, clock, surplus)
    assert [g.allow_negative for g in show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals] == [
        False,
        False,
        True,
    ]
    report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key="surplus-change", actual=-7.5)
    goals = show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals
    assert [g.actual for g in goals if g.key == "surplus-change"] == [-7.5]
    events = audit_count(rt, plan_id)
    with pytest.raises(ActionRefused) as refused:
        report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key="goal-1", actual=-7.5)
    assert refused.value.message == (
        "the actual of goal 'goal-1' (目标1) must not be negative, got -7.5: the goal does not "
        "allow negative values (its plan file does not set 'allow_negative: true')"
    )
    assert audit_count(rt, plan_id) == events


def test_a_negative_target_alone_does_not_allow_negative_actuals(
    rt: Runtime, clock: SimulatedClock
) -> None:
    """The flag decides, not the target's sign (a plan file cannot hold this goal without the
    flag; a spec built in code can, and is held to the same rule)."""
    deficit = GoalSpec(
        key="deficit-change",
        title="经费赤字变化",
        target=Decimal(-5),
        unit="万元",
        comparator=Comparator.AT_MOST,
    )
    plan_id = with_goal(rt, clock, deficit)
    events = audit_count(rt, plan_id)
    with pytest.raises(ActionRefused, match=r"'deficit-change'.*does not allow negative values"):
        report_goal(rt, plan_id=plan_id, actor=DRAFTER, goal_key="deficit-change", actual=-7.5)
    assert audit_count(rt, plan_id) == events
    assert [g.actual for g in show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals] == [
        None,
        None,
        None,
    ]


def test_allow_negative_is_kept_by_an_edit_and_fixed_once_approved(rt: Runtime) -> None:
    setup_world(rt)
    spec = small_plan()
    flagged = dataclasses.replace(
        spec, goals=(dataclasses.replace(spec.goals[0], allow_negative=True), spec.goals[1])
    )
    plan_id = create_plan(rt, spec=spec, actor=DRAFTER).plan_id
    edit_plan(rt, plan_id=plan_id, spec=flagged, actor=DRAFTER)
    assert [g.allow_negative for g in show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals] == [
        True,
        False,
    ]
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER)
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER)
    for approver in ("wang-county", "li-county"):
        act(rt, plan_id=plan_id, trigger="approve", actor=approver)
    version = show_plan(rt, plan_id=plan_id, actor=DRAFTER).plan.version
    locked = r"only its monthly items can change; the file also changes its goals$"
    with pytest.raises(ActionRefused, match=locked):
        edit_plan(rt, plan_id=plan_id, spec=spec, actor=DRAFTER)  # the flag alone differs
    shown = show_plan(rt, plan_id=plan_id, actor=DRAFTER)
    assert (shown.plan.version, shown.goals[0].allow_negative) == (version, True)
    # The same goals, flag included, with one more item: an amendment that is accepted.
    more = dataclasses.replace(flagged, items=(*flagged.items, ItemSpec(month=4, title="4月活动")))
    edit_plan(rt, plan_id=plan_id, spec=more, actor=DRAFTER)
    assert show_plan(rt, plan_id=plan_id, actor=DRAFTER).goals[0].allow_negative is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"org": "zishan-bike-factory"}, "org 'zishan-bike-factory'"),
        ({"year": 2028}, "year 2028"),
        ({"template_name": "township-annual-plan"}, "template 'township-annual-plan'"),
        ({"template_version": 2}, "template version 2"),
    ],
)
def test_an_edit_file_that_changes_what_cannot_change_is_refused(
    rt: Runtime, change: dict[str, object], message: str
) -> None:
    setup_world(rt)
    spec = small_plan()
    plan_id = create_plan(rt, spec=spec, actor=DRAFTER).plan_id
    edited = dataclasses.replace(spec, title="新标题", **change)  # type: ignore[arg-type]
    with pytest.raises(ActionRefused, match=message) as refused:
        edit_plan(rt, plan_id=plan_id, spec=edited, actor=DRAFTER)
    assert "cannot change" in refused.value.message
    plan = show_plan(rt, plan_id=plan_id, actor=DRAFTER).plan
    assert (plan.title, plan.version) == (spec.title, 1)
    # The plan's own values, written out, are accepted.
    same = dataclasses.replace(spec, title="新标题", template_version=1)
    assert edit_plan(rt, plan_id=plan_id, spec=same, actor=DRAFTER).version == 2


def test_plans_are_listed_by_state_name_or_title(rt: Runtime) -> None:
    setup_world(rt)
    draft = create_plan(rt, spec=small_plan(), actor=DRAFTER).plan_id
    for state in ("draft", "草稿", " 草稿 "):
        assert [p.id for p, _ in list_plans(rt, actor=APPROVER, state=state)] == [draft]
    assert list_plans(rt, actor=APPROVER, state="executing") == []
    assert list_plans(rt, actor=APPROVER, state="执行中") == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("bogus", "no state 'bogus' in the loaded templates; states: draft, township_review"),
        ("drafts", "did you mean 'draft'?"),
        ("草稿箱", "did you mean '草稿'?"),
    ],
)
def test_an_unknown_state_is_refused_not_an_empty_list(
    rt: Runtime, state: str, message: str
) -> None:
    setup_world(rt)
    create_plan(rt, spec=small_plan(), actor=DRAFTER)
    with pytest.raises(NotFound, match=message):
        list_plans(rt, actor=APPROVER, state=state)


@pytest.mark.parametrize("plan_id", [0, -1, 2**31, 2**63])
def test_an_id_no_row_can_have_is_no_plan_for_reads_and_writes(rt: Runtime, plan_id: int) -> None:
    setup_world(rt)
    with pytest.raises(NotFound):
        show_plan(rt, plan_id=plan_id, actor="chen-school")
    with pytest.raises(NotFound):
        act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    with pytest.raises(NotFound):
        edit_plan(rt, plan_id=plan_id, spec=small_plan(), actor="chen-school")
