"""Amending a live plan's monthly items re-plans its reminders: future ones follow the new
schedule, obsolete ones are cancelled, those already sent stay as they were."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, PermissionDenied
from engine.core.planfile import ItemSpec, PlanSpec
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.plans import edit_plan, plan_history
from engine.service.reporting import report_item
from engine.service.runtime import Runtime
from engine.store.tables import ItemStatus, MonthlyItem, Reminder, ReminderStatus
from tests.service.test_dispatch import Recorder
from tests.world import small_plan, world_with_live_plan

TZ = ZoneInfo("Asia/Shanghai")


def by_item_title(rt: Runtime) -> dict[str, list[tuple[str, dt.date, str]]]:
    """Per item title: (status, local fire date, role) of its reminders."""

    with rt.database.session() as session:
        rows = session.exec(
            select(Reminder, MonthlyItem)
            .join(MonthlyItem, col(MonthlyItem.id) == Reminder.item_id)
            .order_by(col(Reminder.fire_at), col(Reminder.key))
        ).all()
    found: dict[str, list[tuple[str, dt.date, str]]] = {}
    for reminder, item in rows:
        found.setdefault(item.title, []).append(
            (reminder.status, reminder.fire_at.astimezone(TZ).date(), reminder.recipient_role)
        )
    return found


def amended(spec: PlanSpec, items: list[ItemSpec]) -> PlanSpec:
    return dataclasses.replace(spec, items=tuple(items))


def test_amending_items_replans_only_the_future(rt: Runtime, clock: SimulatedClock) -> None:
    plan_id = world_with_live_plan(rt, items=3)
    spec = small_plan(items=3)
    send = Recorder()
    for day in (dt.date(2026, 12, 29), dt.date(2027, 1, 31)):  # what is due by 31 January
        clock.set(dt.datetime.combine(day, dt.time(9, 0), tzinfo=TZ))
        sweep_reminders(rt)
        publish_outbox(rt, in_process(rt, send))
    assert len(send.sent) == 2 + 1  # January: month start and due; February: month start

    clock.set(dt.datetime(2027, 2, 1, 10, tzinfo=TZ))
    items = [
        ItemSpec(month=1, title="1月活动"),
        ItemSpec(month=2, title="2月活动", due_day=15),  # moved from 28 Feb to 15 Feb
        ItemSpec(month=4, title="4月新增活动", due_day=31),  # new; April has 30 days
    ]  # March's item is dropped
    result = edit_plan(rt, plan_id=plan_id, spec=amended(spec, items), actor="chen-school")
    assert result.action == "amend"

    reminders = by_item_title(rt)
    assert reminders["1月活动"][:2] == [
        (ReminderStatus.SENT, dt.date(2026, 12, 29), "drafter"),
        (ReminderStatus.SENT, dt.date(2027, 1, 31), "drafter"),
    ]
    assert reminders["2月活动"] == [
        (ReminderStatus.SENT, dt.date(2027, 1, 29), "drafter"),  # month start: unchanged, sent
        (ReminderStatus.PLANNED, dt.date(2027, 2, 15), "drafter"),
        (ReminderStatus.PLANNED, dt.date(2027, 2, 22), "drafter"),
        (ReminderStatus.PLANNED, dt.date(2027, 2, 22), "township_reviewer"),
        (ReminderStatus.CANCELLED, dt.date(2027, 2, 28), "drafter"),  # the old due day
        (ReminderStatus.CANCELLED, dt.date(2027, 3, 7), "drafter"),
        (ReminderStatus.CANCELLED, dt.date(2027, 3, 7), "township_reviewer"),
    ]
    assert "3月活动" not in reminders  # dropped with its never-sent reminders
    assert [(s, d) for s, d, _ in reminders["4月新增活动"]] == [
        (ReminderStatus.PLANNED, dt.date(2027, 3, 29)),
        (ReminderStatus.PLANNED, dt.date(2027, 4, 30)),  # 31 → the month's last day
        (ReminderStatus.PLANNED, dt.date(2027, 5, 7)),
        (ReminderStatus.PLANNED, dt.date(2027, 5, 7)),
    ]
    last = plan_history(rt, plan_id=plan_id, actor="chen-school")[-1].event
    assert last.action == "amend"
    assert json.loads(last.detail or "") == {"added": 1, "changed": 1, "removed": 1}


def test_an_item_already_reminded_or_reported_cannot_be_removed(
    rt: Runtime, clock: SimulatedClock
) -> None:
    plan_id = world_with_live_plan(rt, items=3)
    spec = small_plan(items=3)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)  # January's month-start reminder is queued
    without_january = amended(spec, list(spec.items[1:]))
    with pytest.raises(ActionRefused, match=r"cannot remove 1月 1月活动: reminders"):
        edit_plan(rt, plan_id=plan_id, spec=without_january, actor="chen-school")
    report_item(rt, plan_id=plan_id, actor="chen-school", item_number=2, status=ItemStatus.DONE)
    without_february = amended(spec, [spec.items[0], spec.items[2]])
    with pytest.raises(ActionRefused, match=r"cannot remove 2月 2月活动"):
        edit_plan(rt, plan_id=plan_id, spec=without_february, actor="chen-school")


def test_only_items_change_while_live(rt: Runtime) -> None:
    plan_id = world_with_live_plan(rt)
    spec = small_plan()
    with pytest.raises(ActionRefused, match=r"only its monthly items can change.*title, goals"):
        edit_plan(
            rt,
            plan_id=plan_id,
            spec=dataclasses.replace(spec, title="新标题", goals=spec.goals[:1]),
            actor="chen-school",
        )
    with pytest.raises(PermissionDenied, match=r"only the plan's owners"):
        edit_plan(rt, plan_id=plan_id, spec=spec, actor="zhao-zishan")
