"""The whole chain on SQLite and PostgreSQL, reloading through a fresh runtime between steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, Conflict, NotFound, PermissionDenied
from engine.service.actions import act
from engine.service.audit import verify_audit
from engine.service.inbox import inbox
from engine.service.plan_views import plan_history, show_plan
from engine.service.plans import create_plan, edit_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.timers import fire_due_timers
from engine.store.statuses import ItemStatus, ReminderStatus
from engine.store.tables import AuditEvent, Reminder, Task
from tests.conftest import make_runtime
from tests.world import setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


Fresh = Callable[[Runtime], Runtime]


@pytest.fixture
def fresh() -> Iterator[Fresh]:
    """New runtimes on the same database: nothing survives in memory between steps."""
    made: list[Runtime] = []

    def make(rt: Runtime) -> Runtime:
        assert isinstance(rt.clock, SimulatedClock)
        made.append(make_runtime(rt.database.url, rt.clock))
        return made[-1]

    yield make
    for runtime in made:
        runtime.database.dispose()


def audit_count(rt: Runtime, plan_id: int) -> int:
    with rt.database.session() as session:
        return session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.plan_id == plan_id)
        ).one()


def state_of(rt: Runtime, plan_id: int) -> str:
    return show_plan(rt, plan_id=plan_id, actor="wang-county").plan.state


def test_the_whole_year(rt: Runtime, clock: SimulatedClock, fresh: Fresh) -> None:
    setup_world(rt)
    created = create_plan(rt, spec=small_plan(), actor="chen-school")
    plan_id = created.plan_id
    assert (created.to_state, created.version) == ("draft", 1)

    clock.set(local(2026, 11, 16, 9))  # a Monday
    act(fresh(rt), plan_id=plan_id, trigger="submit", actor="chen-school")
    assert state_of(fresh(rt), plan_id) == "township_review"
    [entry] = inbox(fresh(rt), actor="zhao-zishan")
    # 7 working days from Monday 16 November: Wednesday 25 November, same time of day.
    assert entry.task.due_at == local(2026, 11, 25, 9)
    assert inbox(fresh(rt), actor="sun-songshan") == []  # another township's reviewer

    act(fresh(rt), plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    first = act(fresh(rt), plan_id=plan_id, trigger="approve", actor="wang-county")
    assert (first.to_state, first.detail) == ("county_approval", {"signed": 1, "of": 2})
    assert [e.plan.id for e in inbox(fresh(rt), actor="wang-county")] == []
    assert [e.plan.id for e in inbox(fresh(rt), actor="li-county")] == [plan_id]
    act(fresh(rt), plan_id=plan_id, trigger="approve", actor="li-county")
    assert state_of(fresh(rt), plan_id) == "executing"

    with rt.database.session() as session:
        reminders = list(
            session.exec(
                select(Reminder).where(
                    Reminder.plan_id == plan_id, col(Reminder.item_id).is_not(None)
                )
            )
        )
    # 3 items × (month start + due + overdue to two roles) = 12 rows, all in the future, 09:00.
    assert len(reminders) == 12
    assert {r.fire_at.astimezone(TZ).hour for r in reminders} == {9}
    january_start = [r for r in reminders if r.kind == "item_month_start" and r.rule_index == 0]
    assert min(r.fire_at for r in january_start) == local(2026, 12, 29, 9)

    clock.set(local(2027, 3, 5, 10))
    report_item(
        fresh(rt), plan_id=plan_id, actor="chen-school", item_number=1, status=ItemStatus.DONE
    )
    with pytest.raises(ActionRefused, match="goal actuals cannot be reported"):
        report_goal(fresh(rt), plan_id=plan_id, actor="chen-school", goal_key="goal-1", actual=1)

    clock.set(local(2027, 11, 30, 23, 59))
    assert fire_due_timers(fresh(rt)) == []
    clock.set(local(2027, 12, 1, 0, 1))
    [fired] = fire_due_timers(fresh(rt))
    assert (fired.plan_id, fired.trigger, fired.error) == (plan_id, "begin_evaluation", None)
    with rt.database.session() as session:
        statuses = set(
            session.exec(
                select(Reminder.status).where(
                    Reminder.plan_id == plan_id, col(Reminder.item_id).is_not(None)
                )
            )
        )
    # Left the live state: no item reminder goes out any more.
    assert statuses == {ReminderStatus.CANCELLED}

    with pytest.raises(ActionRefused, match="2 goal\\(s\\) not reported yet: 目标1、目标2"):
        act(fresh(rt), plan_id=plan_id, trigger="submit_evaluation", actor="chen-school")
    for key, actual in (("goal-1", 120), ("goal-2", 180)):
        report_goal(fresh(rt), plan_id=plan_id, actor="chen-school", goal_key=key, actual=actual)
    report_item(
        fresh(rt),
        plan_id=plan_id,
        actor="chen-school",
        item_number=2,
        status=ItemStatus.PARTLY,
        note="场地未落实",
    )
    report_item(
        fresh(rt),
        plan_id=plan_id,
        actor="chen-school",
        item_number=3,
        status=ItemStatus.NOT_DONE,
        note="改期至明年",
    )
    act(fresh(rt), plan_id=plan_id, trigger="submit_evaluation", actor="chen-school")
    with pytest.raises(ActionRefused, match="needs a score"):
        act(fresh(rt), plan_id=plan_id, trigger="assess", actor="wang-county", comment="好")
    act(
        fresh(rt),
        plan_id=plan_id,
        trigger="assess",
        actor="wang-county",
        comment="完成较好",
        score=92,
    )

    view = show_plan(fresh(rt), plan_id=plan_id, actor="chen-school")
    assert (view.plan.state, view.plan.assessment_score) == ("closed", 92)
    assert [g.actual for g in view.goals] == [120, 180]
    assert [i.status for i in view.items] == ["done", "partly", "not_done"]
    history = plan_history(fresh(rt), plan_id=plan_id, actor="chen-school")
    assert [(h.event.action, h.actor) for h in history] == [
        ("create", "陈静"),
        ("submit", "陈静"),
        ("approve", "赵志强"),
        ("approve", "王建国"),
        ("approve", "李秀英"),
        ("report_item", "陈静"),
        ("begin_evaluation", "system"),
        ("report_goal", "陈静"),
        ("report_goal", "陈静"),
        ("report_item", "陈静"),
        ("report_item", "陈静"),
        ("submit_evaluation", "陈静"),
        ("assess", "王建国"),
    ]
    assert [h.event.plan_version for h in history] == list(range(1, 14))
    # What each event did, in words and as data, with who did it by username too.
    said = {(h.event.action, h.summary) for h in history if h.summary}
    assert said >= {
        ("approve", "signed 1 of 2"),
        ("report_item", "item 1 (1月 1月活动): done"),
        ("report_item", "item 2 (2月 2月活动): partly"),
        ("report_goal", "goal goal-1 (目标1): actual 120人 (target 100人)"),
        ("assess", "score 92"),
    }
    assert history[-1].detail == {"score": 92}
    assert [h.actor_username for h in history[-2:]] == ["chen-school", "wang-county"]
    assert [h.actor_username for h in history if h.actor == "system"] == [None]
    assert verify_audit(rt).ok
    with rt.database.session() as session:
        open_tasks = session.exec(select(Task).where(col(Task.status) == "open")).all()
    assert open_tasks == []


def test_return_needs_a_comment_and_edit_only_in_draft(rt: Runtime, fresh: Fresh) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    with pytest.raises(ActionRefused, match="needs a comment"):
        act(rt, plan_id=plan_id, trigger="return", actor="zhao-zishan", comment="  ")
    with pytest.raises(ActionRefused, match="can only be edited in 草稿"):
        edit_plan(rt, plan_id=plan_id, spec=small_plan(items=4), actor="chen-school")
    act(rt, plan_id=plan_id, trigger="return", actor="zhao-zishan", comment="请补充")
    edit_plan(rt, plan_id=plan_id, spec=small_plan(items=5), actor="chen-school")
    assert len(show_plan(fresh(rt), plan_id=plan_id, actor="chen-school").items) == 5
    assert audit_count(rt, plan_id) == 4  # create, submit, return, edit: refusals wrote nothing


def test_withdraw_then_resubmit(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    act(rt, plan_id=plan_id, trigger="withdraw", actor="chen-school")
    assert state_of(rt, plan_id) == "draft"
    assert inbox(rt, actor="zhao-zishan") == []  # the review task closed with the withdrawal
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    assert [e.plan.id for e in inbox(rt, actor="zhao-zishan")] == [plan_id]


def test_countersign_one_return_ends_the_round(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    with pytest.raises(
        ActionRefused, match="already signed this step \\(approve\\) on 2026-11-02 09:00"
    ):
        act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    act(rt, plan_id=plan_id, trigger="return", actor="li-county", comment="目标偏低")
    assert state_of(rt, plan_id) == "draft"
    # The next round starts afresh: both must sign again.
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    result = act(rt, plan_id=plan_id, trigger="approve", actor="li-county")
    assert result.detail == {"signed": 1, "of": 2}


def test_scope_and_roles_deny_by_default(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    with pytest.raises(PermissionDenied, match="may not create plans for 梓山中学工会"):
        create_plan(rt, spec=small_plan(year=2028), actor="liu-factory")
    with pytest.raises(NotFound, match=f"no plan #{plan_id}"):
        act(rt, plan_id=plan_id, trigger="submit", actor="sun-songshan")  # other township
    with pytest.raises(NotFound):
        show_plan(rt, plan_id=plan_id, actor="zhou-hospital")
    with pytest.raises(PermissionDenied, match="needs the role drafter"):
        act(rt, plan_id=plan_id, trigger="submit", actor="zhao-zishan")
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    with pytest.raises(PermissionDenied, match="needs the role township_reviewer"):
        act(rt, plan_id=plan_id, trigger="approve", actor="chen-school")
    # What the county approver may do here, not every trigger (`withdraw` is the drafter's).
    with pytest.raises(ActionRefused, match=r"possible now: return$"):
        act(rt, plan_id=plan_id, trigger="assess", actor="wang-county", comment="x", score=1)
    with pytest.raises(ActionRefused, match=r"possible now: withdraw$"):
        act(rt, plan_id=plan_id, trigger="assess", actor="chen-school", comment="x", score=1)
    assert audit_count(rt, plan_id) == 2


def test_idempotency_and_versions(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school", idempotency_key="c1").plan_id
    again = create_plan(rt, spec=small_plan(), actor="chen-school", idempotency_key="c1")
    assert (again.plan_id, again.replayed) == (plan_id, True)

    first = act(rt, plan_id=plan_id, trigger="submit", actor="chen-school", idempotency_key="k1")
    repeat = act(rt, plan_id=plan_id, trigger="submit", actor="chen-school", idempotency_key="k1")
    assert (repeat.replayed, repeat.version, repeat.to_state) == (
        True,
        first.version,
        "township_review",
    )
    assert audit_count(rt, plan_id) == 2
    with pytest.raises(Conflict, match="already used for a different request"):
        act(rt, plan_id=plan_id, trigger="withdraw", actor="chen-school", idempotency_key="k1")
    with pytest.raises(Conflict, match="you saw version 1, it is now 2"):
        act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan", expected_version=1)
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan", expected_version=2)
    assert audit_count(rt, plan_id) == 3


def test_a_step_nobody_can_take_is_refused_and_writes_nothing(rt: Runtime) -> None:
    setup_world(rt)
    from engine.service.leaving import revoke_role

    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    revoke_role(rt, username="zhao-zishan", role="township_reviewer")
    with pytest.raises(ActionRefused, match="nobody holds the role township_reviewer"):
        act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    assert state_of(rt, plan_id) == "draft"
    assert audit_count(rt, plan_id) == 1
