"""Reminder message texts: every kind, both audiences of item reminders, the plan's time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.core.messages import (
    Audience,
    ItemFacts,
    Message,
    ReminderFacts,
    ReminderKind,
    ReturnFacts,
    TaskFacts,
    render,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WOMENS_DAY = ItemFacts(month=3, title="庆祝“三八”国际劳动妇女节活动", due=date(2027, 3, 8))
# 09:00 UTC is 17:00 in Shanghai.
REVIEW = TaskFacts(step_title="镇工会审核", due=datetime(2027, 3, 8, 9, 0, tzinfo=UTC))
RETURNED = ReturnFacts(
    step_title="镇工会审核",
    returned_by="赵志强",
    at=datetime(2026, 11, 25, 7, 0, tzinfo=UTC),  # 15:00 in Shanghai
    reason="请补充教职工健康体检安排。",
)


def returned_facts() -> ReminderFacts:
    return ReminderFacts(
        kind=ReminderKind.PLAN_RETURNED,
        org_name="梓山中学工会",
        plan_title="梓山中学工会2027年工作计划",
        recipient_role_title="计划起草人",
        tz=SHANGHAI,
        returned=RETURNED,
    )


def item_facts(kind: ReminderKind, audience: Audience = Audience.OWNER) -> ReminderFacts:
    supervising = audience is Audience.SUPERVISOR
    return ReminderFacts(
        kind=kind,
        org_name="梓山中学工会",
        plan_title="梓山中学工会2027年工作计划",
        recipient_role_title="镇工会审核人" if supervising else "计划起草人",
        tz=SHANGHAI,
        audience=audience,
        item=WOMENS_DAY,
    )


def task_facts(kind: ReminderKind, role_title: str = "镇工会审核人") -> ReminderFacts:
    return ReminderFacts(
        kind=kind,
        org_name="梓山中学工会",
        plan_title="梓山中学工会2027年工作计划",
        recipient_role_title=role_title,
        tz=SHANGHAI,
        task=REVIEW,
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            item_facts(ReminderKind.ITEM_MONTH_START),
            Message(
                "3月计划事项即将开始",
                "梓山中学工会：3月计划事项即将开始：庆祝“三八”国际劳动妇女节活动（3月8日前完成）。",
            ),
        ),
        (
            item_facts(ReminderKind.ITEM_DUE),
            Message(
                "3月计划事项今天到期",
                "梓山中学工会：3月计划事项今天到期：庆祝“三八”国际劳动妇女节活动（3月8日）。"
                "完成后请及时报告完成情况。",
            ),
        ),
        (
            item_facts(ReminderKind.ITEM_OVERDUE),
            Message(
                "3月计划事项已逾期",
                "梓山中学工会：3月计划事项已逾期：庆祝“三八”国际劳动妇女节活动"
                "（应于3月8日前完成），请尽快报告完成情况。",
            ),
        ),
        (
            item_facts(ReminderKind.ITEM_OVERDUE, Audience.SUPERVISOR),
            Message(
                "梓山中学工会的3月计划事项已逾期",
                "镇工会审核人：梓山中学工会的3月计划事项已逾期：庆祝“三八”国际劳动妇女节活动"
                "（应于3月8日前完成），请督促其尽快报告完成情况。",
            ),
        ),
        (
            item_facts(ReminderKind.ITEM_MONTH_START, Audience.SUPERVISOR),
            Message(
                "梓山中学工会的3月计划事项即将开始",
                "镇工会审核人：梓山中学工会的3月计划事项即将开始："
                "庆祝“三八”国际劳动妇女节活动（3月8日前完成）。",
            ),
        ),
        (
            task_facts(ReminderKind.TASK_DUE),
            Message(
                "待办将于3月8日 17:00到期：镇工会审核",
                "镇工会审核人：《梓山中学工会2027年工作计划》的“镇工会审核”"
                "待办将于3月8日 17:00到期，请及时处理。",
            ),
        ),
        (
            task_facts(ReminderKind.TASK_OVERDUE),
            Message(
                "待办已逾期：镇工会审核",
                "镇工会审核人：《梓山中学工会2027年工作计划》的“镇工会审核”"
                "待办已逾期（应于3月8日 17:00前处理），请尽快处理。",
            ),
        ),
        (
            task_facts(ReminderKind.TASK_ESCALATED, role_title="县总工会审批人"),
            Message(
                "逾期待办已转交您处理：镇工会审核",
                "县总工会审批人：《梓山中学工会2027年工作计划》的“镇工会审核”"
                "待办逾期未处理（应于3月8日 17:00前处理），已转交您处理，请尽快办理。",
            ),
        ),
        (
            task_facts(ReminderKind.TASK_OPENED),
            Message(
                "新的待办：镇工会审核",
                "镇工会审核人：《梓山中学工会2027年工作计划》的“镇工会审核”"
                "有新的待办，请于3月8日 17:00前处理。",
            ),
        ),
        (
            replace(
                task_facts(ReminderKind.TASK_OPENED, role_title="县总工会审批人"),
                task=replace(REVIEW, step_title="县总工会考核", due=None),
            ),
            Message(
                "新的待办：县总工会考核",
                "县总工会审批人：《梓山中学工会2027年工作计划》的“县总工会考核”"
                "有新的待办，请及时处理。",
            ),
        ),
        (
            returned_facts(),
            Message(
                "计划被退回：梓山中学工会2027年工作计划",
                "梓山中学工会：《梓山中学工会2027年工作计划》在“镇工会审核”被赵志强"
                "于11月25日 15:00退回。退回理由：请补充教职工健康体检安排。请修改后重新提交。",
            ),
        ),
    ],
    ids=lambda value: f"{value.kind}-{value.audience}" if isinstance(value, ReminderFacts) else "",
)
def test_exact_texts(facts: ReminderFacts, expected: Message) -> None:
    assert render(facts) == expected


def test_kind_is_accepted_as_the_stored_string() -> None:
    assert render(item_facts(ReminderKind.ITEM_DUE)) == render(
        replace(item_facts(ReminderKind.ITEM_DUE), kind="item_due")
    )


def test_times_are_shown_in_the_given_zone_including_the_date() -> None:
    """16:30 UTC on 7 March is 00:30 on 8 March in Shanghai: the local day is the one shown."""
    late = TaskFacts(step_title="县总工会会签审批", due=datetime(2027, 3, 7, 16, 30, tzinfo=UTC))
    facts = replace(task_facts(ReminderKind.TASK_OVERDUE), task=late)
    assert "应于3月8日 00:30前处理" in render(facts).text
    assert "应于3月7日 16:30前处理" in render(replace(facts, tz=UTC)).text


def test_unknown_kind_is_a_value_error_listing_the_known_ones() -> None:
    facts = replace(item_facts(ReminderKind.ITEM_DUE), kind="item_soon")
    with pytest.raises(ValueError, match=r"unknown reminder kind 'item_soon'.*item_month_start"):
        render(facts)


@pytest.mark.parametrize("kind", [k for k in ReminderKind if k.startswith("item_")])
def test_item_kinds_need_the_item(kind: ReminderKind) -> None:
    with pytest.raises(ValueError, match=f"a {kind} reminder needs the item"):
        render(replace(item_facts(kind), item=None))


@pytest.mark.parametrize("kind", [k for k in ReminderKind if k.startswith("task_")])
def test_task_kinds_need_the_task(kind: ReminderKind) -> None:
    with pytest.raises(ValueError, match=f"a {kind} reminder needs the task"):
        render(replace(task_facts(kind), task=None))


@pytest.mark.parametrize("kind", [ReminderKind.TASK_DUE, ReminderKind.TASK_OVERDUE])
def test_nudges_and_overdue_notices_need_the_due_time(kind: ReminderKind) -> None:
    with pytest.raises(ValueError, match=f"a {kind} reminder needs the task's due time"):
        render(replace(task_facts(kind), task=replace(REVIEW, due=None)))


def test_a_return_notice_needs_the_return_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="plan_returned reminder needs the return's facts"):
        render(replace(returned_facts(), returned=None))
    naive = replace(RETURNED, at=datetime(2026, 11, 25, 7, 0))
    with pytest.raises(ValueError, match="must be aware"):
        render(replace(returned_facts(), returned=naive))


def test_a_naive_task_due_time_is_refused() -> None:
    naive = TaskFacts(step_title="镇工会审核", due=datetime(2027, 3, 8, 9, 0))
    with pytest.raises(ValueError, match="must be aware"):
        render(replace(task_facts(ReminderKind.TASK_DUE), task=naive))


def test_a_month_outside_1_to_12_is_refused() -> None:
    facts = replace(item_facts(ReminderKind.ITEM_DUE), item=replace(WOMENS_DAY, month=13))
    with pytest.raises(ValueError, match="month 13 is not a month"):
        render(facts)
