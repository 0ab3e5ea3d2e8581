"""Timer transitions fire through the same path as people, with the system as the actor."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.core.clock import SimulatedClock
from engine.service import timers
from engine.service.actions import act
from engine.service.cycle_failures import list_failures
from engine.service.directory import create_user
from engine.service.plan_views import plan_history
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.service.timers import fire_due_timers
from engine.store.tables import Plan
from tests.world import setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")

AUTO_RETURN = """\
planflow: 1
name: auto-return
version: 1
title: 超时自动退回
roles:
  drafter: {title: 起草人, scope: own}
  township_reviewer: {title: 审核人, scope: children}
states:
  draft: {title: 草稿, initial: true}
  review:
    title: 审核
    task: {role: township_reviewer, due: 2wd}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: review, roles: [drafter]}
  - {trigger: approve, from: review, to: done, roles: [township_reviewer]}
  - {trigger: expire, from: review, to: draft, after: 2wd}
"""


def test_after_timer_counts_working_days(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    load_template(rt, content=AUTO_RETURN, source="auto-return.yaml")
    spec = small_plan(template="auto-return")
    plan_id = create_plan(rt, spec=spec, actor="chen-school").plan_id
    clock.set(dt.datetime(2026, 11, 20, 10, tzinfo=TZ))  # a Friday
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    # The replay's question: when the timer falls due (Tuesday 10:00, two working days on).
    due = dt.datetime(2026, 11, 24, 10, tzinfo=TZ)
    assert timers.next_timer_due(rt, after=clock()) == due
    assert timers.next_timer_due(rt, after=None) == due
    assert timers.next_timer_due(rt, after=due) is None

    clock.set(dt.datetime(2026, 11, 23, 10, tzinfo=TZ))  # Monday: one working day later
    assert fire_due_timers(rt) == []
    clock.set(dt.datetime(2026, 11, 24, 9, 59, tzinfo=TZ))
    assert fire_due_timers(rt) == []
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=TZ))  # Tuesday 10:00: two working days
    [outcome] = fire_due_timers(rt)
    assert (outcome.plan_id, outcome.trigger, outcome.error) == (plan_id, "expire", None)
    assert fire_due_timers(rt) == []  # fired once; the plan has left the state

    last = plan_history(rt, plan_id=plan_id, actor="chen-school")[-1]
    assert (last.actor, last.event.action, last.event.to_state) == ("system", "expire", "draft")


def test_at_timer_waits_for_its_day_in_the_plans_year(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    plans = {}
    for year in (2027, 2028):
        plan_id = create_plan(rt, spec=small_plan(year=year), actor="chen-school").plan_id
        for trigger, actor in (
            ("submit", "chen-school"),
            ("approve", "zhao-zishan"),
            ("approve", "wang-county"),
            ("approve", "li-county"),
        ):
            act(rt, plan_id=plan_id, trigger=trigger, actor=actor)
        plans[year] = plan_id
    first, second = (dt.datetime(year, 12, 1, 0, 0, tzinfo=TZ) for year in (2027, 2028))
    assert timers.next_timer_due(rt, after=clock()) == first
    assert timers.next_timer_due(rt, after=None) == first
    assert timers.next_timer_due(rt, after=first) == second
    clock.set(dt.datetime(2027, 12, 1, 0, 0, tzinfo=TZ))
    fired = fire_due_timers(rt)
    assert [(o.plan_id, o.trigger) for o in fired] == [(plans[2027], "begin_evaluation")]
    assert timers.next_timer_due(rt, after=None) == second  # the 2027 plan left the state
    clock.set(dt.datetime(2028, 11, 30, 23, 59, tzinfo=TZ))
    assert fire_due_timers(rt) == []
    clock.set(dt.datetime(2028, 12, 1, 0, 0, tzinfo=TZ))
    assert [o.plan_id for o in fire_due_timers(rt)] == [plans[2028]]


def test_a_29_february_timer_fires_on_the_28th_in_common_years(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    template = AUTO_RETURN.replace("after: 2wd", 'at: "02-29"').replace("auto-return", "leap")
    load_template(rt, content=template, source="leap.yaml")
    plan_id = create_plan(rt, spec=small_plan(template="leap"), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    clock.set(dt.datetime(2027, 2, 27, 23, 59, tzinfo=TZ))
    assert fire_due_timers(rt) == []
    clock.set(dt.datetime(2027, 2, 28, 0, 0, tzinfo=TZ))
    assert [o.trigger for o in fire_due_timers(rt)] == ["expire"]


# The timer moves a plan to a step for a role only the bike factory has a holder of: every other
# plan's timer is refused, every time ("nobody holds the role …").
GUARDED = """\
planflow: 1
name: guarded
version: 1
title: 超时归档
roles:
  drafter: {title: 起草人, scope: own}
  archivist: {title: 档案员, scope: own}
states:
  draft: {title: 草稿, initial: true}
  waiting: {title: 等待}
  archive:
    title: 归档
    task: {role: archivist, due: 7d}
  done: {title: 完成, final: true}
transitions:
  - {trigger: submit, from: draft, to: waiting, roles: [drafter]}
  - {trigger: file, from: waiting, to: archive, after: 2wd}
  - {trigger: close, from: archive, to: done, roles: [archivist]}
"""


def test_plans_refused_every_time_do_not_starve_the_others(
    rt: Runtime, clock: SimulatedClock
) -> None:
    """More refused plans than a sweep takes, all before the good ones by id: the good ones still
    fire within a few cycles, and each refused one is tried once per back-off, not every cycle."""
    setup_world(rt)
    load_template(rt, content=GUARDED, source="guarded.yaml")
    create_user(
        rt, username="ma-factory", name="马", org="zishan-bike-factory", roles=["archivist"]
    )
    clock.set(dt.datetime(2026, 11, 20, 10, tzinfo=TZ))
    refused = [
        create_plan(rt, spec=small_plan(year=year, template="guarded"), actor="chen-school").plan_id
        for year in range(2027, 2032)
    ]
    good = [
        create_plan(
            rt,
            spec=small_plan("zishan-bike-factory", year=year, template="guarded"),
            actor="liu-factory",
        ).plan_id
        for year in (2027, 2028)
    ]
    for plan_id in refused:
        act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    for plan_id in good:
        act(rt, plan_id=plan_id, trigger="submit", actor="liu-factory")
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=TZ))  # two working days later: all due

    tried: list[int] = []
    for _ in range(4):  # 7 plans, 2 a sweep
        tried += [o.plan_id for o in fire_due_timers(rt, limit=2)]
    assert sorted(tried) == sorted(refused + good)  # each once: none twice, none left out
    assert [state_of(rt, plan_id) for plan_id in good] == ["archive", "archive"]
    assert fire_due_timers(rt, limit=2) == []  # the refused ones wait for their back-off

    failures = list_failures(rt)
    assert [(f.plan_id, f.attempts) for f in failures] == [(p, 1) for p in refused]
    assert "nobody holds the role archivist" in failures[0].error

    clock.advance(dt.timedelta(minutes=1))  # back-off over: tried again, the longest-waiting first
    assert [o.plan_id for o in fire_due_timers(rt, limit=2)] == refused[:2]


def state_of(rt: Runtime, plan_id: int) -> str:
    with rt.database.session() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return plan.state


def test_a_timer_another_process_fired_first_is_settled_not_a_failure(
    rt: Runtime, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`planflow cycle run` beside a running scheduler: both find the same due timer; the one
    that comes second finds the plan moved on, which is no failure to record or retry."""
    setup_world(rt)
    load_template(rt, content=AUTO_RETURN, source="auto-return.yaml")
    plan_id = create_plan(rt, spec=small_plan(template="auto-return"), actor="chen-school").plan_id
    clock.set(dt.datetime(2026, 11, 20, 10, tzinfo=TZ))
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=TZ))

    def the_other_process_first(rt: Runtime, **kwargs: Any) -> object:
        act(rt, plan_id=kwargs["plan_id"], trigger=kwargs["trigger"], actor=None)
        return act(rt, **kwargs)

    monkeypatch.setattr(timers, "act", the_other_process_first)
    assert fire_due_timers(rt) == []
    assert list_failures(rt) == []
    actions = [e.event.action for e in plan_history(rt, plan_id=plan_id, actor="chen-school")]
    assert actions == ["create", "submit", "expire"]
