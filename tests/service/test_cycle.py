"""One broken plan never stops the others: a cycle with a failing timer, a failing escalation
level and a failing reminder still fires, escalates and sends everything else, records what
failed where an operator sees it, and tries it again after a back-off; a step that fails as a
whole does not stop the next steps. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.messages import Message, Recipient
from engine.http.app import create_app
from engine.service import cycle as cycle_module
from engine.service import dispatch, escalations, timers
from engine.service.actions import act
from engine.service.cycle import CycleReport, StepFailure, run_cycle
from engine.service.cycle_failures import list_failures
from engine.service.dispatch import in_process
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.store.statuses import ReminderStatus
from engine.store.tables import AuditEvent, CycleFailure, Plan, Reminder, Task
from tests.world import live_plan, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
SUBMITTED = dt.datetime(2026, 11, 16, 9, tzinfo=TZ)  # a Monday
DUE = SUBMITTED + dt.timedelta(days=2)  # both the timer and the escalation level

TIMED = """\
planflow: 1
name: timed
version: 1
title: 超时退回
roles:
  drafter: {title: 起草人, scope: own}
  township_reviewer: {title: 审核人, scope: children}
states:
  draft: {title: 草稿, initial: true}
  review:
    title: 审核
    task: {role: township_reviewer, due: 7d}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: approve, from: review, to: done, roles: [township_reviewer]}
  - {trigger: expire, from: review, to: draft, after: 2d}
"""

ESCALATING = """\
planflow: 1
name: escalating
version: 1
title: 超时升级
roles:
  drafter: {title: 起草人, scope: own}
  township_reviewer: {title: 审核人, scope: children}
  county_approver: {title: 县总工会审批人, scope: subtree}
states:
  draft: {title: 草稿, initial: true}
  review:
    title: 审核
    task: {role: township_reviewer, due: 1d, escalate: {after: 2d, to: county_approver}}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: approve, from: review, to: done, roles: [township_reviewer]}
"""

DRAFTERS = {"zishan-middle-school": "chen-school", "songshan-hospital": "zhou-hospital"}


@dataclass
class Sent:
    messages: list[tuple[str, str]] = field(default_factory=list)  # (username, subject)

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        self.messages.append((recipient.username, message.subject))


@dataclass
class Broken:
    """Makes one plan's call fail, until repaired."""

    plan_id: int
    error: Exception
    broken: bool = True
    tries: int = 0

    def wrap(self, real: Callable[..., Any], plan_of: Callable[..., int]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.broken and plan_of(*args, **kwargs) == self.plan_id:
                self.tries += 1
                raise self.error
            return real(*args, **kwargs)

        return call


def submitted(rt: Runtime, template: str, org: str) -> int:
    drafter = DRAFTERS[org]
    plan_id = create_plan(rt, spec=small_plan(org, template=template), actor=drafter).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)
    return plan_id


def state_of(rt: Runtime, plan_id: int) -> str:
    with rt.database.session() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return plan.state


def escalated(rt: Runtime, plan_id: int) -> bool:
    with rt.database.session() as session:
        query = select(Task).where(Task.plan_id == plan_id, col(Task.escalated_from).is_not(None))
        return session.exec(query).first() is not None


def audit_actions(rt: Runtime, plan_id: int) -> list[str]:
    with rt.database.session() as session:
        query = select(AuditEvent.action).where(AuditEvent.plan_id == plan_id)
        return list(session.exec(query.order_by(col(AuditEvent.id))))


@pytest.fixture
def world(rt: Runtime, clock: SimulatedClock) -> dict[str, int]:
    """Two plans with a timer and two with an escalation level, all due at `DUE`."""
    setup_world(rt)
    load_template(rt, content=TIMED, source="timed.yaml")
    load_template(rt, content=ESCALATING, source="escalating.yaml")
    clock.set(SUBMITTED)
    plans = {
        f"{template}:{org}": submitted(rt, template, org)
        for template in ("timed", "escalating")
        for org in DRAFTERS
    }
    run_cycle(rt, in_process(rt, Sent()))  # the reviewers' new-task notices go out at once
    return plans


def test_a_failing_timer_and_escalation_stop_nobody_else(
    rt: Runtime, clock: SimulatedClock, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    timer_bug = Broken(world["timed:zishan-middle-school"], RuntimeError("a bug in one timer"))
    monkeypatch.setattr(timers, "act", timer_bug.wrap(act, lambda rt, **kwargs: kwargs["plan_id"]))
    database_error = sa.exc.OperationalError("UPDATE task", {}, Exception("row broke"))
    level_bug = Broken(world["escalating:zishan-middle-school"], database_error)
    monkeypatch.setattr(
        escalations,
        "_escalate",
        level_bug.wrap(escalations._escalate, lambda ctx, reminder_id: ctx.plan_id),
    )
    sent = Sent()
    clock.set(DUE)
    report = run_cycle(rt, in_process(rt, sent))

    assert report.failures == ()
    assert state_of(rt, world["timed:songshan-hospital"]) == "draft"  # its timer fired
    assert state_of(rt, world["timed:zishan-middle-school"]) == "review"
    assert escalated(rt, world["escalating:songshan-hospital"])
    assert not escalated(rt, world["escalating:zishan-middle-school"])
    # The reviewers' overdue notices (the broken plan's too) and the escalation's notice, to
    # both county approvers, went out in the same cycle.
    assert sorted(user for user, _ in sent.messages) == [
        "li-county",
        "sun-songshan",
        "wang-county",
        "zhao-zishan",
    ]
    assert sorted((o.plan_id, o.error) for o in report.timers) == [
        (world["timed:zishan-middle-school"], "RuntimeError: a bug in one timer"),
        (world["timed:songshan-hospital"], None),
    ]
    assert "timers fired 2, escalations 2 (2 refused)" in report.summary()

    # Recorded for operators, not in the plans' audit logs (nothing happened to the plans).
    failures = list_failures(rt)
    assert [(f.step, f.plan_id, f.what, f.error, f.attempts) for f in failures] == [
        ("timer", timer_bug.plan_id, "expire", "RuntimeError: a bug in one timer", 1),
        ("escalation", level_bug.plan_id, failures[1].what, "OperationalError: row broke", 1),
    ]
    assert failures[1].what.startswith("reminder #")
    assert failures[0].retry_at == DUE + dt.timedelta(minutes=1)
    for plan_id in (timer_bug.plan_id, level_bug.plan_id):
        assert audit_actions(rt, plan_id) == ["create", "submit"]
    with TestClient(create_app(rt)) as client:  # and counted in /healthz, which stays ok
        health = client.get("/healthz")
    assert (health.status_code, health.json()["stuck"]) == (200, 2)

    # The next cycles leave them alone until their back-off has passed; then each is one more
    # try on the same record, not a new one.
    assert run_cycle(rt, in_process(rt, sent)).idle
    clock.advance(dt.timedelta(minutes=1))
    again = run_cycle(rt, in_process(rt, sent))
    assert len(again.timers) == len(again.escalations) == 1
    assert (timer_bug.tries, level_bug.tries) == (2, 2)
    assert [(f.attempts, f.first_failed_at) for f in list_failures(rt)] == [(2, DUE), (2, DUE)]
    assert list_failures(rt)[0].retry_at == clock() + dt.timedelta(minutes=2)

    # Repaired: the next retry carries both out and nothing is stuck any more.
    timer_bug.broken = level_bug.broken = False
    clock.advance(dt.timedelta(minutes=2))
    done = run_cycle(rt, in_process(rt, sent))
    assert [o.error for o in done.timers] == [o.error for o in done.escalations] == [None]
    assert state_of(rt, timer_bug.plan_id) == "draft"
    assert escalated(rt, level_bug.plan_id)
    assert list_failures(rt) == []


def test_a_step_that_fails_as_a_whole_does_not_stop_the_next(
    rt: Runtime, clock: SimulatedClock, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rt: Runtime) -> None:
        raise RuntimeError("the timer step broke")

    monkeypatch.setattr(cycle_module, "fire_due_timers", broken)
    sent = Sent()
    clock.set(DUE)
    report = run_cycle(rt, in_process(rt, sent))
    assert report.failures == (StepFailure("timers", "RuntimeError: the timer step broke"),)
    assert "timers failed: RuntimeError: the timer step broke" in report.summary()
    assert not report.idle
    # Two overdue notices to the reviewers, two escalation notices to both county approvers.
    assert len(report.escalations) == 2 and len(sent.messages) == 6
    assert state_of(rt, world["timed:songshan-hospital"]) == "review"


def test_a_reminder_that_cannot_be_prepared_is_dead_and_the_rest_go_out(
    rt: Runtime, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_world(rt)
    school = live_plan(rt, "zishan-middle-school")
    hospital = live_plan(rt, "songshan-hospital")
    bug = Broken(school, RuntimeError("cannot render"))
    monkeypatch.setattr(
        dispatch.sweep,
        "_decide",
        bug.wrap(dispatch.sweep._decide, lambda batch, reminder: reminder.plan_id),
    )
    sent = Sent()
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))  # January's month-start reminders
    report: CycleReport = run_cycle(rt, in_process(rt, sent))
    assert report.failures == ()
    assert sent.messages and {user for user, _ in sent.messages} == {"zhou-hospital"}
    with rt.database.session() as session:
        [dead] = session.exec(
            select(Reminder).where(Reminder.plan_id == school, Reminder.status == "dead")
        )
        [gone] = session.exec(
            select(Reminder).where(Reminder.plan_id == hospital, Reminder.status == "sent")
        )
    assert dead.last_error == (
        "could not be prepared (RuntimeError: cannot render); once that is fixed, "
        f"`planflow reminders retry {dead.id}`"
    )
    assert gone.kind == dead.kind == "item_month_start"
    assert dead.status == ReminderStatus.DEAD


def test_a_failure_is_forgotten_once_its_plan_has_moved_on(
    rt: Runtime, clock: SimulatedClock, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = world["escalating:zishan-middle-school"]
    bug = Broken(plan_id, RuntimeError("a bug in one level"))
    monkeypatch.setattr(
        escalations, "_escalate", bug.wrap(escalations._escalate, lambda ctx, _: ctx.plan_id)
    )
    clock.set(DUE)
    run_cycle(rt, in_process(rt, Sent()))
    assert [f.plan_id for f in list_failures(rt)] == [plan_id]

    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")  # the level is cancelled
    assert list_failures(rt) == []  # the record no longer says anything true
    run_cycle(rt, in_process(rt, Sent()))
    with rt.database.session() as session:
        assert session.exec(select(CycleFailure)).all() == []  # and the next cycle deletes it
    assert bug.tries == 1
