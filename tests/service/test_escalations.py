"""Task reminders and escalations on SQLite and PostgreSQL: rows stored when a task opens and
cancelled when it closes, the escalation sweep opening tasks higher up, and stand-ins deciding."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.errors import PermissionDenied
from engine.core.planning import TASK_ESCALATION
from engine.service import directory
from engine.service.actions import act
from engine.service.escalations import fire_due_escalations
from engine.service.inbox import inbox
from engine.service.plan_views import plan_history
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.store.statuses import ReminderStatus, TaskStatus
from engine.store.tables import Organisation, Plan, Reminder, Task
from tests.world import setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
SUBMITTED = dt.datetime(2026, 11, 16, 9, tzinfo=TZ)  # a Monday

# A township review that escalates twice: to the county approvers, then to a senior reviewer.
CHAIN = """\
planflow: 1
name: chain
version: 1
title: 两级升级
roles:
  drafter: {title: 起草人, scope: own}
  township_reviewer: {title: 镇工会审核人, scope: children}
  county_approver: {title: 县总工会审批人, scope: subtree}
  senior_reviewer: {title: 上级审核人, scope: subtree}
states:
  draft: {title: 草稿, initial: true}
  review:
    title: 镇工会审核
    task:
      role: township_reviewer
      due: 2d
      remind: [1d]
      escalate:
        - {after: 3d, to: county_approver}
        - {after: 5d, to: senior_reviewer}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: approve, from: review, to: done, roles: [township_reviewer]}
  - {trigger: return, from: review, to: draft, roles: [township_reviewer], comment: required}
"""

# The county countersigns (会签); when late, the county chair decides alone.
COUNTERSIGN = """\
planflow: 1
name: countersign
version: 1
title: 会签升级
roles:
  drafter: {title: 起草人, scope: own}
  county_approver: {title: 县总工会审批人, scope: subtree}
  county_chair: {title: 县总工会主席, scope: subtree}
states:
  draft: {title: 草稿, initial: true}
  approval:
    title: 县总工会会签
    task: {role: county_approver, sign: all, due: 2d, escalate: {after: 3d, to: county_chair}}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: approval, roles: [drafter]}
  - {trigger: approve, from: approval, to: done, roles: [county_approver]}
"""


def local(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=TZ)


def submitted_plan(
    rt: Runtime, clock: SimulatedClock, *, org: str = "zishan-middle-school", template: str = ""
) -> int:
    drafter = {"zishan-middle-school": "chen-school", "songshan-hospital": "zhou-hospital"}[org]
    spec = small_plan(org, template=template) if template else small_plan(org)
    plan_id = create_plan(rt, spec=spec, actor=drafter).plan_id
    clock.set(SUBMITTED)
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)
    return plan_id


def reminders(rt: Runtime, plan_id: int) -> list[Reminder]:
    with rt.database.session() as session:
        query = select(Reminder).where(Reminder.plan_id == plan_id).order_by(col(Reminder.id))
        return list(session.exec(query))


def tasks(rt: Runtime, plan_id: int) -> list[Task]:
    with rt.database.session() as session:
        return list(
            session.exec(select(Task).where(Task.plan_id == plan_id).order_by(col(Task.id)))
        )


def org_code(rt: Runtime, org_id: int) -> str:
    with rt.database.session() as session:
        org = session.get(Organisation, org_id)
        assert org is not None
        return org.code


def state_of(rt: Runtime, plan_id: int) -> str:
    with rt.database.session() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return plan.state


# --------------------------------------------------------------------------- task reminders


def test_opening_a_task_stores_its_reminders_and_escalation(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    [task] = tasks(rt, plan_id)
    rows = reminders(rt, plan_id)
    # annual-work-plan: due 7wd, remind [3d, 6d], escalate {after: 10d, to: county_approver}.
    assert [(r.kind, r.recipient_role, r.fire_at) for r in rows] == [
        ("task_opened", "township_reviewer", SUBMITTED),  # 新的待办, at once
        ("task_due", "township_reviewer", local(2026, 11, 19)),
        ("task_due", "township_reviewer", local(2026, 11, 22)),
        ("task_overdue", "township_reviewer", local(2026, 11, 25)),
        (TASK_ESCALATION, "county_approver", local(2026, 11, 26)),
    ]
    assert task.due_at == local(2026, 11, 25)
    assert rows[-1].key == f"p{plan_id}:t{task.id}:escalate1:county_approver"
    assert {(r.task_id, r.item_id, r.rule_index, r.status) for r in rows} == {
        (task.id, None, None, ReminderStatus.PLANNED)
    }


def test_closing_a_task_cancels_what_it_had_planned(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    [review] = tasks(rt, plan_id)
    clock.set(local(2026, 11, 17))
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    by_task: dict[int | None, set[str]] = {}
    for row in reminders(rt, plan_id):
        by_task.setdefault(row.task_id, set()).add(row.status)
    approval = tasks(rt, plan_id)[-1]
    # The county approval (due 10wd, nothing else) plans its overdue notice.
    assert by_task == {review.id: {ReminderStatus.CANCELLED}, approval.id: {ReminderStatus.PLANNED}}
    clock.set(local(2026, 11, 27))
    assert fire_due_escalations(rt) == []  # the review's level went with its task


# --------------------------------------------------------------------------- escalating


def test_an_overdue_task_escalates_to_the_nearest_holder_as_the_system(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    [review] = tasks(rt, plan_id)
    clock.set(local(2026, 11, 26) - dt.timedelta(minutes=1))
    assert fire_due_escalations(rt) == []
    clock.set(local(2026, 11, 26))
    [outcome] = fire_due_escalations(rt)
    assert (outcome.plan_id, outcome.error) == (plan_id, None)

    original, escalated = tasks(rt, plan_id)
    assert outcome.task_id == escalated.id
    assert original.status == TaskStatus.OPEN  # the reviewer keeps the task
    assert (escalated.state, escalated.role, escalated.sign) == (
        "township_review",
        "county_approver",
        "any",
    )
    # subtree: the township has no county approver, so the county takes it.
    assert org_code(rt, escalated.org_id) == "county"
    assert (escalated.escalated_from, escalated.due_at) == (review.id, review.due_at)

    _, level, notice = [
        r for r in reminders(rt, plan_id) if r.kind not in {"task_due", "task_opened"}
    ]
    assert (level.kind, level.status, level.sent_at) == (
        TASK_ESCALATION,
        ReminderStatus.SENT,
        local(2026, 11, 26),
    )
    assert (notice.kind, notice.task_id, notice.recipient_role, notice.status) == (
        "task_escalated",
        escalated.id,
        "county_approver",
        ReminderStatus.PLANNED,
    )
    assert (notice.key, notice.fire_at) == (f"{level.key}:notice", local(2026, 11, 26))

    last = plan_history(rt, plan_id=plan_id, actor="wang-county")[-1]
    assert (last.actor, last.event.action) == ("system", "escalate")
    assert (last.event.from_state, last.event.to_state) == ("township_review", "township_review")
    assert json.loads(last.event.detail or "") == {
        "task": review.id,
        "escalation_task": escalated.id,
        "role": "county_approver",
        "org": "county",
        "org_name": "县总工会",
    }


def test_running_the_sweep_twice_escalates_once(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    clock.set(local(2026, 12, 1))
    assert len(fire_due_escalations(rt)) == 1
    assert fire_due_escalations(rt) == []
    assert len(tasks(rt, plan_id)) == 2
    escalations = [
        e
        for e in plan_history(rt, plan_id=plan_id, actor="wang-county")
        if e.event.action == "escalate"
    ]
    assert len(escalations) == 1


def test_the_escalated_holder_decides_and_the_reviewer_has_nothing_left(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    with pytest.raises(PermissionDenied, match="needs the role township_reviewer"):
        act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")  # not escalated yet
    clock.set(local(2026, 11, 26))
    fire_due_escalations(rt)

    [entry] = inbox(rt, actor="wang-county")
    assert (entry.plan.id, entry.escalated, entry.overdue) == (plan_id, True, True)
    assert entry.triggers == ["approve", "return"]  # as the township reviewer would
    [own] = inbox(rt, actor="zhao-zishan")
    assert not own.escalated

    result = act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert (result.from_state, result.to_state) == ("township_review", "county_approval")
    assert result.detail is not None and result.detail["as_role"] == "township_reviewer"
    *_, escalated, last = plan_history(rt, plan_id=plan_id, actor="wang-county")
    assert (last.actor, last.event.action) == ("王建国", "approve")  # the real actor
    stand_in = result.detail["escalation_task"]
    assert last.summary == f"as township_reviewer (escalation task #{stand_in})"
    assert escalated.event.action == "escalate"
    assert escalated.summary.startswith("task #") and escalated.summary.endswith(
        f"overdue: escalated to county_approver at 县总工会 (task #{stand_in})"
    )

    assert [e.plan.id for e in inbox(rt, actor="zhao-zishan")] == []
    with pytest.raises(PermissionDenied):
        act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    closed = [t for t in tasks(rt, plan_id) if t.state == "township_review"]
    assert {(t.status, t.outcome) for t in closed} == {(TaskStatus.CLOSED, "approve")}
    review_rows = [r for r in reminders(rt, plan_id) if r.task_id in {t.id for t in closed}]
    assert {r.status for r in review_rows if r.kind == "task_escalated"} == {
        ReminderStatus.CANCELLED  # never swept: the step moved on first
    }


def test_a_chain_of_two_levels_reaches_the_nearest_holders(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=CHAIN, source="chain.yaml")
    # Senior reviewers at the county and at the township: the township is nearer.
    directory.create_user(
        rt, username="ma-county", name="马", org="county", roles=["senior_reviewer"]
    )
    directory.create_user(
        rt, username="qian-zishan", name="钱", org="zishan-town", roles=["senior_reviewer"]
    )
    plan_id = submitted_plan(rt, clock, template="chain")
    clock.set(local(2026, 11, 19))
    [first] = fire_due_escalations(rt)
    clock.set(local(2026, 11, 20, 23))
    assert fire_due_escalations(rt) == []
    clock.set(local(2026, 11, 21))
    [second] = fire_due_escalations(rt)

    _, to_county, to_senior = tasks(rt, plan_id)
    assert (first.task_id, second.task_id) == (to_county.id, to_senior.id)
    assert (to_county.role, org_code(rt, to_county.org_id)) == ("county_approver", "county")
    assert (to_senior.role, org_code(rt, to_senior.org_id)) == ("senior_reviewer", "zishan-town")
    assert to_county.escalated_from == to_senior.escalated_from
    assert [e.escalated for e in inbox(rt, actor="qian-zishan")] == [True]
    assert inbox(rt, actor="ma-county") == []

    act(rt, plan_id=plan_id, trigger="return", actor="qian-zishan", comment="请补充")
    assert state_of(rt, plan_id) == "draft"
    assert {t.status for t in tasks(rt, plan_id)} == {TaskStatus.CLOSED}
    assert inbox(rt, actor="wang-county") == []


def test_the_stand_in_decides_a_countersigned_step_alone(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=COUNTERSIGN, source="countersign.yaml")
    directory.create_user(rt, username="ma-county", name="马", org="county", roles=["county_chair"])
    plan_id = submitted_plan(rt, clock, template="countersign")
    first = act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert first.detail == {"signed": 1, "of": 2}
    clock.set(local(2026, 11, 19))
    fire_due_escalations(rt)
    result = act(rt, plan_id=plan_id, trigger="approve", actor="ma-county")
    assert result.to_state == "done"  # li-county never signed: the chair decided for the step


def test_a_level_nobody_can_take_is_dead_and_does_not_stop_the_others(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=CHAIN, source="chain.yaml")
    # Only Zishan's township has a senior reviewer: Songshan's plan cannot reach one.
    directory.create_user(
        rt, username="qian-zishan", name="钱", org="zishan-town", roles=["senior_reviewer"]
    )
    songshan = submitted_plan(rt, clock, org="songshan-hospital", template="chain")
    zishan = submitted_plan(rt, clock, template="chain")
    clock.set(local(2026, 11, 21))
    outcomes = fire_due_escalations(rt)
    failed = [o for o in outcomes if o.error is not None]
    assert sorted((o.plan_id, o.error is None) for o in outcomes) == sorted(
        [(songshan, True), (songshan, False), (zishan, True), (zishan, True)]
    )
    [dead] = failed
    assert dead.error is not None
    assert "nobody holds the role senior_reviewer (上级审核人) for 松山卫生院工会" in dead.error
    assert f"planflow reminders retry {dead.reminder_id}" in dead.error

    [row] = [r for r in reminders(rt, songshan) if r.id == dead.reminder_id]
    assert (row.status, row.last_error) == (ReminderStatus.DEAD, dead.error)
    assert fire_due_escalations(rt) == []  # dead until an operator retries it

    # Granted, and retried by an operator (the row planned again): it goes through.
    directory.create_user(
        rt, username="zheng-songshan", name="郑", org="songshan-town", roles=["senior_reviewer"]
    )
    with rt.database.session() as session:
        session.connection().execute(
            sa.update(Reminder).where(col(Reminder.id) == dead.reminder_id).values(status="planned")
        )
    [retried] = fire_due_escalations(rt)
    assert (retried.plan_id, retried.error) == (songshan, None)
    assert [e.escalated for e in inbox(rt, actor="zheng-songshan")] == [True]


def test_a_level_whose_task_closed_without_it_is_cancelled_not_carried_out(
    rt: Runtime, clock: SimulatedClock
) -> None:
    """Leaving a step cancels its levels; one left planned anyway is cancelled by the sweep."""
    setup_world(rt)
    plan_id = submitted_plan(rt, clock)
    [review] = tasks(rt, plan_id)
    with rt.database.session() as session:
        session.connection().execute(
            sa.update(Task).where(col(Task.id) == review.id).values(status=TaskStatus.CLOSED)
        )
    clock.set(local(2026, 11, 26))
    assert fire_due_escalations(rt) == []
    level = next(r for r in reminders(rt, plan_id) if r.kind == TASK_ESCALATION)
    assert (level.status, level.last_error) == (
        ReminderStatus.CANCELLED,
        "the task closed before it was due",
    )
    assert [e.event.action for e in plan_history(rt, plan_id=plan_id, actor="wang-county")] == [
        "create",
        "submit",
    ]
