"""Operators' reminder use cases on both databases: listing, retrying, refusing, auditing.

Reminders reach their states through the real sweep and delivery code: a channel that refuses
makes a dead delivery, a scheduler that sleeps past the catch-up window a missed reminder, a
revoked role a reminder nobody can receive.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, DeliveryError, InputError, NotFound
from engine.core.messages import Message, Recipient
from engine.core.planning import TASK_ESCALATION
from engine.service.actions import act
from engine.service.directory import grant_role
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.escalations import fire_due_escalations
from engine.service.leaving import revoke_role
from engine.service.plans import create_plan
from engine.service.reminders import list_reminders, retry_dead, retry_reminder
from engine.service.runtime import Runtime
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import AuditEvent, Delivery, Reminder
from tests.world import live_plan, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
# The first reminder of a plan approved in November 2026: January's item, three days before the
# month, 09:00 local.
FIRST_FIRE = dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ)


class Channel:
    """A `Send` that refuses for good while `refusing`, and counts what it delivered."""

    def __init__(self) -> None:
        self.refusing = False
        self.sent: list[str] = []

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        if self.refusing:
            raise DeliveryError("mailbox does not exist", retryable=False)
        self.sent.append(recipient.username)


def cycle(rt: Runtime, send: Channel) -> None:
    sweep_reminders(rt)
    publish_outbox(rt, in_process(rt, send))


def reminder(rt: Runtime, reminder_id: int) -> Reminder:
    with rt.database.session() as session:
        found = session.get(Reminder, reminder_id)
        assert found is not None
        return found


def deliveries_of(rt: Runtime, reminder_id: int) -> list[Delivery]:
    with rt.database.session() as session:
        return list(session.exec(select(Delivery).where(Delivery.reminder_id == reminder_id)))


def only(rt: Runtime, status: ReminderStatus) -> int:
    [view] = list_reminders(rt, status=status)
    return view.id


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    setup_world(rt)
    return rt


def test_a_dead_delivery_is_retried_and_then_sent_once(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    plan_id = live_plan(rt)
    send = Channel()
    send.refusing = True
    clock.set(FIRST_FIRE)
    cycle(rt, send)
    dead = only(rt, ReminderStatus.DEAD)
    [view] = list_reminders(rt, status="dead")
    [delivery] = view.deliveries
    assert (delivery.recipient, delivery.status, delivery.attempts) == ("chen-school", "dead", 1)
    assert delivery.last_error == "try 1: mailbox does not exist"

    send.refusing = False
    clock.advance(dt.timedelta(hours=2))
    outcome = retry_reminder(rt, dead)
    assert (outcome.plan_id, outcome.from_status, outcome.to_status) == (plan_id, "dead", "failed")
    assert outcome.deliveries == 1
    [again] = deliveries_of(rt, dead)
    assert (again.status, again.attempts, again.next_attempt_at) == ("failed", 0, clock())

    cycle(rt, send)
    cycle(rt, send)  # a second cycle finds nothing more to send
    assert send.sent == ["chen-school"]
    assert reminder(rt, dead).status == ReminderStatus.SENT
    [sent] = deliveries_of(rt, dead)
    assert (sent.status, sent.attempts, sent.sent_at) == (DeliveryStatus.SENT, 1, clock())


def test_a_missed_reminder_is_planned_again_and_sent_however_late(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    live_plan(rt)
    send = Channel()
    clock.set(FIRST_FIRE + dt.timedelta(days=4))  # the scheduler was down: past the 3-day window
    cycle(rt, send)
    missed = only(rt, ReminderStatus.MISSED)
    assert "more than 3 days before dispatch ran again" in (reminder(rt, missed).last_error or "")
    assert send.sent == []

    outcome = retry_reminder(rt, missed)
    assert (outcome.from_status, outcome.to_status, outcome.deliveries) == ("missed", "planned", 0)
    assert outcome.reason is not None and "more than 3 days" in outcome.reason
    retried = reminder(rt, missed)
    assert (retried.status, retried.attempts, retried.last_error) == ("planned", 1, None)

    cycle(rt, send)
    assert send.sent == ["chen-school"]
    assert reminder(rt, missed).status == ReminderStatus.SENT


def test_a_reminder_nobody_could_receive_is_planned_again(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    live_plan(rt)
    revoke_role(rt, username="chen-school", role="drafter")
    clock.set(FIRST_FIRE)
    cycle(rt, Channel())
    dead = only(rt, ReminderStatus.DEAD)
    assert deliveries_of(rt, dead) == []
    outcome = retry_reminder(rt, dead)
    assert (outcome.to_status, outcome.deliveries) == ("planned", 0)
    assert reminder(rt, dead).attempts == 1


def test_a_dead_escalation_is_carried_out_once_the_role_is_granted(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    for approver in ("wang-county", "li-county"):
        revoke_role(rt, username=approver, role="county_approver")
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
    clock.advance(dt.timedelta(days=11))  # the township review escalates after 10 days
    [refused] = fire_due_escalations(rt)
    assert refused.error is not None and "nobody holds the role county_approver" in refused.error
    [dead] = list_reminders(rt, status="dead")
    assert (dead.id, dead.kind, dead.deliveries) == (refused.reminder_id, TASK_ESCALATION, ())

    grant_role(rt, username="wang-county", role="county_approver")
    outcome = retry_reminder(rt, dead.id)
    assert (outcome.from_status, outcome.to_status) == ("dead", "planned")
    [escalated] = fire_due_escalations(rt)
    assert (escalated.reminder_id, escalated.error) == (dead.id, None)
    assert reminder(rt, dead.id).status == ReminderStatus.SENT


def test_retry_dead_retries_every_dead_reminder_and_audits_each(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    plans = [live_plan(rt), live_plan(rt, "zishan-bike-factory")]
    send = Channel()
    send.refusing = True
    clock.set(FIRST_FIRE)
    cycle(rt, send)
    dead = [v.id for v in list_reminders(rt, status="dead")]
    assert len(dead) == 2

    outcomes = retry_dead(rt, actor="wang-county")
    assert [(o.reminder_id, o.to_status, o.error) for o in outcomes] == [
        (dead[0], "failed", None),
        (dead[1], "failed", None),
    ]
    assert retry_dead(rt) == []  # nothing dead any more
    with rt.database.session() as session:
        events = list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "retry_reminder")
                .order_by(col(AuditEvent.id))
            )
        )
    assert sorted(e.plan_id for e in events) == sorted(plans)
    assert all(e.actor_id is not None and e.from_state == e.to_state == "executing" for e in events)
    assert [json.loads(e.detail or "{}")["reminder"] for e in events] == dead
    detail = json.loads(events[0].detail or "{}")
    assert (detail["from"], detail["to"], detail["deliveries"]) == ("dead", "failed", 1)
    assert detail["reason"] == "some deliveries gave up; see its deliveries"


def test_a_retry_by_the_system_is_audited_on_the_plan_and_bumps_its_version(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    plan_id = live_plan(rt)
    clock.set(FIRST_FIRE + dt.timedelta(days=4))
    cycle(rt, Channel())
    missed = only(rt, ReminderStatus.MISSED)
    with rt.database.session() as session:
        version_before = session.exec(
            select(AuditEvent.plan_version).where(AuditEvent.plan_id == plan_id)
        ).all()[-1]
    retry_reminder(rt, missed)
    with rt.database.session() as session:
        last = session.exec(
            select(AuditEvent)
            .where(AuditEvent.plan_id == plan_id)
            .order_by(col(AuditEvent.id).desc())
        ).first()
    assert last is not None
    assert (last.action, last.actor_id, last.at) == ("retry_reminder", None, clock())
    assert last.plan_version == version_before + 1


def test_reminders_that_need_no_retry_are_refused_saying_their_status(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    live_plan(rt)
    clock.set(FIRST_FIRE)
    cycle(rt, Channel())
    sent = only(rt, ReminderStatus.SENT)
    planned = list_reminders(rt, status="planned", limit=1)[0].id
    with pytest.raises(ActionRefused, match=rf"reminder #{sent} is sent: it was delivered; only"):
        retry_reminder(rt, sent)
    with pytest.raises(ActionRefused, match=rf"#{planned} is planned: it has not fired yet"):
        retry_reminder(rt, planned)
    with pytest.raises(NotFound, match="no reminder #9999; `planflow reminders list`"):
        retry_reminder(rt, 9999)
    with rt.database.session() as session:  # refused retries leave no audit row
        assert not session.exec(
            select(AuditEvent).where(AuditEvent.action == "retry_reminder")
        ).all()


def test_an_operator_out_of_the_plans_scope_cannot_retry(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    live_plan(rt)
    clock.set(FIRST_FIRE + dt.timedelta(days=4))
    cycle(rt, Channel())
    with pytest.raises(NotFound, match="no plan #"):
        retry_reminder(rt, only(rt, ReminderStatus.MISSED), actor="sun-songshan")


def test_list_filters_by_status_and_plan_in_fire_time_order(
    world: Runtime, clock: SimulatedClock
) -> None:
    rt = world
    first = live_plan(rt)
    second = live_plan(rt, "zishan-bike-factory")
    everything = list_reminders(rt, limit=1000)
    assert everything == sorted(everything, key=lambda v: (v.fire_at, v.id))
    assert {v.plan_id for v in everything} == {first, second}
    # Nothing has fired yet: the review steps' nudges were cancelled when the steps closed.
    assert {v.status for v in everything} == {"planned", "cancelled"}
    assert all(v.deliveries == () for v in everything)
    mine = list_reminders(rt, plan_id=second)
    assert mine and {(v.plan_id, v.org_name) for v in mine} == {(second, "梓山自行车厂工会")}
    assert len(list_reminders(rt, limit=3)) == 3
    assert list_reminders(rt, status="dead") == []
    with pytest.raises(InputError, match="unknown status 'gone'; use one of planned, queued"):
        list_reminders(rt, status="gone")
    with pytest.raises(NotFound, match="no plan #77"):
        list_reminders(rt, plan_id=77)
