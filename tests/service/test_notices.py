"""Notices on SQLite and PostgreSQL: people hear about what concerns them, through the one
dispatch sweep, exactly once: a task opened for them (新的待办), their turn in a `sequence`
countersign, and their plan returned to draft with the reason (计划被退回), which the drafter's
inbox and `plan show` also show while the plan waits in draft."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.messages import Message, Recipient, ReminderKind
from engine.service import directory
from engine.service.actions import act
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.escalations import fire_due_escalations
from engine.service.inbox import returned_plans
from engine.service.leaving import revoke_role
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan, edit_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.store.statuses import ReminderStatus
from engine.store.tables import Delivery, Reminder, Task
from tests.world import SEQUENCE, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
SUBMITTED = dt.datetime(2026, 11, 16, 9, tzinfo=TZ)  # a Monday
REASON = "请补充教职工健康体检安排"

# The county signs in turn (wang-county was granted the role first, then li-county).


@dataclass
class Recorder:
    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (user, subject, text)

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        self.sent.append((recipient.username, message.subject, message.text))

    def take(self) -> list[tuple[str, str, str]]:
        sent, self.sent = self.sent, []
        return sent


def cycle(rt: Runtime, send: Recorder) -> list[tuple[str, str, str]]:
    """One sweep with in-process delivery; what it sent."""
    sweep_reminders(rt)
    publish_outbox(rt, in_process(rt, send))
    return send.take()


def submitted(rt: Runtime, clock: SimulatedClock, template: str = "") -> int:
    spec = small_plan(template=template) if template else small_plan()
    plan_id = create_plan(rt, spec=spec, actor="chen-school").plan_id
    clock.set(SUBMITTED)
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    return plan_id


def reminders_of(rt: Runtime, plan_id: int, kind: str) -> list[Reminder]:
    with rt.database.session() as session:
        return list(
            session.exec(
                select(Reminder)
                .where(Reminder.plan_id == plan_id, Reminder.kind == kind)
                .order_by(col(Reminder.id))
            )
        )


def delivery_keys(rt: Runtime) -> list[str]:
    with rt.database.session() as session:
        return list(session.exec(select(Delivery.key)))


# --------------------------------------------------------------------------- a task opened


def test_a_new_task_is_announced_to_its_holders_at_once_and_only_once(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    assert cycle(rt, send) == [
        (
            "zhao-zishan",
            "新的待办：镇工会审核",
            "镇工会审核人：《zishan-middle-school 2027年工会工作计划》的“镇工会审核”有新的待办，"
            "请于11月25日 09:00前处理。",  # seven working days
        )
    ]
    clock.advance(dt.timedelta(minutes=5))
    assert cycle(rt, send) == []  # sent exactly once
    [notice] = reminders_of(rt, plan_id, ReminderKind.TASK_OPENED)
    assert (notice.status, notice.fire_at, notice.recipient_role) == (
        ReminderStatus.SENT,
        SUBMITTED,
        "township_reviewer",
    )
    assert delivery_keys(rt) == [f"{notice.key}:log:zhao-zishan"]


def test_a_countersign_is_announced_to_the_signers_who_have_not_signed(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    cycle(rt, send)
    clock.advance(dt.timedelta(hours=1))
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    assert {user for user, _, _ in cycle(rt, send)} == {"wang-county", "li-county"}

    # The next round (after a return and resubmission): wang signs before the sweep runs.
    clock.advance(dt.timedelta(hours=1))
    act(rt, plan_id=plan_id, trigger="return", actor="li-county", comment=REASON)
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    sent = cycle(rt, send)
    assert [(user, subject) for user, subject, _ in sent] == [
        ("li-county", "新的待办：县总工会会签审批")
    ]


def test_in_sequence_each_signer_hears_when_their_turn_comes(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=SEQUENCE, source="sequence.yaml")
    send = Recorder()
    plan_id = submitted(rt, clock, template="sequence")
    assert [user for user, _, _ in cycle(rt, send)] == ["wang-county"]
    clock.advance(dt.timedelta(hours=2))
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert [(u, s) for u, s, _ in cycle(rt, send)] == [("li-county", "新的待办：县总工会依次会签")]
    assert cycle(rt, send) == []
    keys = [r.key for r in reminders_of(rt, plan_id, ReminderKind.TASK_OPENED)]
    assert [key.split(":")[2] for key in keys] == ["opened", "turn2"]


def test_a_turn_taken_before_the_sweep_is_not_announced_to_the_next_signer_twice(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=SEQUENCE, source="sequence.yaml")
    send = Recorder()
    plan_id = submitted(rt, clock, template="sequence")
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")  # before any sweep
    assert [user for user, _, _ in cycle(rt, send)] == ["li-county"]
    first, second = reminders_of(rt, plan_id, ReminderKind.TASK_OPENED)
    assert (first.status, first.last_error) == (
        ReminderStatus.CANCELLED,
        "the signer signed before it went out",
    )
    assert second.status == ReminderStatus.SENT


def test_a_holder_leaving_a_task_others_hold_announces_nothing(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["township_reviewer"]
    )
    submitted(rt, clock)
    assert {user for user, _, _ in cycle(rt, send)} == {"zhao-zishan", "qin-zishan"}
    clock.advance(dt.timedelta(hours=1))
    revoke_role(rt, username="zhao-zishan", role="township_reviewer")
    assert cycle(rt, send) == []  # qin holds it still, and knows


def test_the_signer_whose_turn_comes_because_one_left_hears_of_it(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    load_template(rt, content=SEQUENCE, source="sequence.yaml")
    send = Recorder()
    submitted(rt, clock, template="sequence")
    assert [user for user, _, _ in cycle(rt, send)] == ["wang-county"]
    clock.advance(dt.timedelta(hours=1))
    revoke_role(rt, username="wang-county", role="county_approver")
    assert [(u, s) for u, s, _ in cycle(rt, send)] == [("li-county", "新的待办：县总工会依次会签")]


def test_a_task_moved_to_the_nearest_holders_is_announced_to_them(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    # A county approver at the township is nearer to the school than the county's two.
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    plan_id = submitted(rt, clock)
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    assert [user for user, _, _ in cycle(rt, send)] == ["qin-zishan"]
    clock.advance(dt.timedelta(hours=1))
    revoke_role(rt, username="qin-zishan", role="county_approver")
    assert sorted((u, s) for u, s, _ in cycle(rt, send)) == [
        ("li-county", "新的待办：县总工会会签审批"),
        ("wang-county", "新的待办：县总工会会签审批"),
    ]


def test_an_escalation_task_is_announced_once_by_its_escalation_notice(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    cycle(rt, send)
    clock.set(dt.datetime(2026, 11, 26, 9, tzinfo=TZ))  # escalate: {after: 10d}
    [outcome] = fire_due_escalations(rt)
    assert outcome.plan_id == plan_id
    with rt.database.session() as session:
        kinds = list(session.exec(select(Reminder.kind).where(Reminder.task_id == outcome.task_id)))
    assert kinds == [ReminderKind.TASK_ESCALATED]
    sent = cycle(rt, send)
    assert sorted((u, s) for u, s, _ in sent if u != "zhao-zishan") == [
        ("li-county", "逾期待办已转交您处理：镇工会审核"),
        ("wang-county", "逾期待办已转交您处理：镇工会审核"),
    ]
    assert not [s for _, s, _ in sent if s.startswith("新的待办")]


# --------------------------------------------------------------------------- a plan returned


def test_a_returned_plan_tells_its_drafter_why_once(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    cycle(rt, send)
    clock.set(dt.datetime(2026, 11, 25, 15, tzinfo=TZ))
    act(rt, plan_id=plan_id, trigger="return", actor="zhao-zishan", comment=REASON)
    assert cycle(rt, send) == [
        (
            "chen-school",
            "计划被退回：zishan-middle-school 2027年工会工作计划",
            "梓山中学工会：《zishan-middle-school 2027年工会工作计划》在“镇工会审核”被赵志强"
            f"于11月25日 15:00退回。退回理由：{REASON}。请修改后重新提交。",
        )
    ]
    clock.advance(dt.timedelta(minutes=5))
    assert cycle(rt, send) == []
    [notice] = reminders_of(rt, plan_id, ReminderKind.PLAN_RETURNED)
    assert (notice.status, notice.recipient_role) == (ReminderStatus.SENT, "drafter")
    with rt.database.session() as session:
        review = session.exec(select(Task).where(Task.plan_id == plan_id)).first()
    assert review is not None and notice.task_id == review.id  # the step it came back from


def test_a_countersign_return_carries_the_signers_reason(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    clock.advance(dt.timedelta(days=1))
    act(rt, plan_id=plan_id, trigger="return", actor="li-county", comment="目标偏低，请调整")
    returned = [(u, t) for u, s, t in cycle(rt, send) if s.startswith("计划被退回")]
    assert returned == [
        (
            "chen-school",
            "梓山中学工会：《zishan-middle-school 2027年工会工作计划》在“县总工会会签审批”被"
            "李秀英于11月17日 09:00退回。退回理由：目标偏低，请调整。请修改后重新提交。",
        )
    ]


def test_a_plan_resubmitted_before_the_sweep_sends_no_stale_return(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    send = Recorder()
    plan_id = submitted(rt, clock)
    act(rt, plan_id=plan_id, trigger="return", actor="zhao-zishan", comment=REASON)
    clock.advance(dt.timedelta(minutes=1))
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    assert [u for u, s, _ in cycle(rt, send) if s.startswith("计划被退回")] == []
    [notice] = reminders_of(rt, plan_id, ReminderKind.PLAN_RETURNED)
    assert notice.status == ReminderStatus.SKIPPED


def test_a_withdrawal_is_no_return(rt: Runtime, clock: SimulatedClock) -> None:
    setup_world(rt)
    plan_id = submitted(rt, clock)
    act(rt, plan_id=plan_id, trigger="withdraw", actor="chen-school")
    assert reminders_of(rt, plan_id, ReminderKind.PLAN_RETURNED) == []
    assert show_plan(rt, plan_id=plan_id, actor="chen-school").returned is None
    assert returned_plans(rt, actor="chen-school") == []


def test_the_drafters_inbox_and_plan_show_say_who_returned_it_when_and_why(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    plan_id = submitted(rt, clock)
    returned_at = dt.datetime(2026, 11, 25, 15, tzinfo=TZ)
    clock.set(returned_at)
    act(rt, plan_id=plan_id, trigger="return", actor="zhao-zishan", comment=REASON)

    [entry] = returned_plans(rt, actor="chen-school")
    assert (entry.plan.id, entry.state_title, entry.actions) == (
        plan_id,
        "草稿",
        ["submit", "plan edit"],
    )
    note = entry.returned
    assert (note.by, note.by_username, note.at, note.step_title, note.reason) == (
        "赵志强",
        "zhao-zishan",
        returned_at,
        "镇工会审核",
        REASON,
    )
    assert show_plan(rt, plan_id=plan_id, actor="chen-school").returned == note
    assert show_plan(rt, plan_id=plan_id, actor="zhao-zishan").returned == note
    assert returned_plans(rt, actor="zhao-zishan") == []  # not his plan to redraft

    # Still the reason while the drafter edits; gone once the plan is resubmitted.
    edit_plan(rt, plan_id=plan_id, spec=small_plan(items=4), actor="chen-school")
    assert show_plan(rt, plan_id=plan_id, actor="chen-school").returned == note
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    assert returned_plans(rt, actor="chen-school") == []
    assert show_plan(rt, plan_id=plan_id, actor="chen-school").returned is None
