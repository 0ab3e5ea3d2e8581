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
from engine.service.actions import act
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.plan_views import plan_history
from engine.service.plans import create_plan, edit_plan
from engine.service.reminders import list_reminders
from engine.service.reporting import report_item
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.store.statuses import ItemStatus, ReminderStatus
from engine.store.tables import MonthlyItem, Reminder
from tests.service.test_dispatch import Recorder
from tests.world import setup_world, small_plan, world_with_live_plan
from workflows import BUNDLED_DIR

TZ = ZoneInfo("Asia/Shanghai")
BUNDLED_ORIGINAL = (BUNDLED_DIR / "annual-work-plan.yaml").read_text(encoding="utf-8")


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
    assert "3月活动" not in reminders  # dropped; its reminders are kept, cancelled (below)
    assert [(s, d) for s, d, _ in reminders["4月新增活动"]] == [
        (ReminderStatus.PLANNED, dt.date(2027, 3, 29)),
        (ReminderStatus.PLANNED, dt.date(2027, 4, 30)),  # 31 → the month's last day
        (ReminderStatus.PLANNED, dt.date(2027, 5, 7)),
        (ReminderStatus.PLANNED, dt.date(2027, 5, 7)),
    ]
    last = plan_history(rt, plan_id=plan_id, actor="chen-school")[-1].event
    assert last.action == "amend"
    assert json.loads(last.detail or "") == {
        "added": 1,
        "changed": 1,
        "removed": 1,
        "removed_items": ["3月 3月活动"],
        "cancelled_reminders": 4,
    }


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


def test_removing_an_item_cancels_its_reminders_and_keeps_them(
    rt: Runtime, clock: SimulatedClock
) -> None:
    plan_id = world_with_live_plan(rt, items=3)
    spec = small_plan(items=3)
    with rt.database.session() as session:
        march = session.exec(select(MonthlyItem).where(MonthlyItem.month == 3)).one()
        march_reminders = {
            r.id: r.key for r in session.exec(select(Reminder).where(Reminder.item_id == march.id))
        }
    assert len(march_reminders) == 4
    edit_plan(rt, plan_id=plan_id, spec=amended(spec, list(spec.items[:2])), actor="chen-school")
    with rt.database.session() as session:
        kept = {
            r.id: r
            for r in session.exec(select(Reminder).where(col(Reminder.id).in_(march_reminders)))
        }
    assert set(kept) == set(march_reminders)  # every row is still there
    assert {(r.status, r.item_id) for r in kept.values()} == {(ReminderStatus.CANCELLED, None)}
    assert {r.last_error for r in kept.values()} == {
        "its item 3月 3月活动 was removed from the plan"
    }
    listed = {v.id: v for v in list_reminders(rt, plan_id=plan_id, limit=1000)}
    assert {listed[i or 0].about for i in kept} == {"a removed item (see its reason)"}
    assert {listed[i or 0].item for i in kept} == {None}
    assert {v.about for v in listed.values() if v.item and v.item.month == 2} == {"2月 2月活动"}
    last = plan_history(rt, plan_id=plan_id, actor="chen-school")[-1]
    assert last.detail == {
        "added": 0,
        "changed": 0,
        "removed": 1,
        "removed_items": ["3月 3月活动"],
        "cancelled_reminders": 4,
    }

    # The same item added back (on SQLite it may get the removed item's id again) is planned
    # anew; the kept rows do not stand in its way.
    edit_plan(rt, plan_id=plan_id, spec=spec, actor="chen-school")
    assert [s for s, _, _ in by_item_title(rt)["3月活动"]] == [ReminderStatus.PLANNED] * 4


def test_editing_a_reopened_draft_keeps_the_reminders_its_items_had(rt: Runtime) -> None:
    """A template may send a live plan back to its draft; the edit there replaces every item, and
    the reminders they had stay, naming their item."""
    setup_world(rt)
    reopening = BUNDLED_ORIGINAL.replace("name: annual-work-plan", "name: reopening-plan").replace(
        "  - {trigger: begin_evaluation,",
        "  - {trigger: reopen, from: executing, to: draft, roles: [county_approver], "
        "comment: required}\n  - {trigger: begin_evaluation,",
    )
    load_template(rt, content=reopening, source="reopening.yaml")
    spec = small_plan(template="reopening-plan", items=2)
    plan_id = create_plan(rt, spec=spec, actor="chen-school").plan_id
    for trigger, actor in (
        ("submit", "chen-school"),
        ("approve", "zhao-zishan"),
        ("approve", "wang-county"),
        ("approve", "li-county"),
    ):
        act(rt, plan_id=plan_id, trigger=trigger, actor=actor)
    act(rt, plan_id=plan_id, trigger="reopen", actor="wang-county", comment="重新修订")
    result = edit_plan(rt, plan_id=plan_id, spec=spec, actor="chen-school")
    assert result.action == "edit"
    with rt.database.session() as session:
        kept = session.exec(
            select(Reminder).where(
                Reminder.plan_id == plan_id, col(Reminder.kind).startswith("item_")
            )
        ).all()
    assert len(kept) == 2 * 4
    assert {(r.status, r.item_id) for r in kept} == {(ReminderStatus.CANCELLED, None)}
    assert {r.last_error.split("; ")[-1] for r in kept if r.last_error} == {
        "its item 1月 1月活动 was replaced by an edit of the plan",
        "its item 2月 2月活动 was replaced by an edit of the plan",
    }
