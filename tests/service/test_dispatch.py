"""Reminder dispatch on a real database: due reminders become deliveries, sent exactly once.

The plan of `world_with_live_plan()` is a grassroots plan approved in November 2026 for 2027,
with monthly items in January to March; the bundled template reminds the drafter three days
before each month and on the due day, and the drafter and the township reviewer a week after the
due day unless the item was reported done. Time moves on the simulated clock; `Recorder` is the
channel.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.core.errors import DeliveryError
from engine.core.messages import Message, Recipient
from engine.service.dispatch import (
    SweepReport,
    deliver,
    in_process,
    publish_outbox,
    sweep_reminders,
)
from engine.service.leaving import revoke_role
from engine.service.reporting import report_item
from engine.service.runtime import Runtime
from engine.store import dispatch_statements as sql
from engine.store.statuses import DeliveryStatus, ItemStatus, ReminderStatus
from engine.store.tables import Delivery, OutboxMessage, Reminder
from tests.world import live_plan, setup_world, world_with_live_plan

TZ = ZoneInfo("Asia/Shanghai")
LEASE = dt.timedelta(minutes=5)  # the default delivery_lease_seconds


@dataclass
class Recorder:
    """A channel that records what it sends, and fails on demand."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, user, text)
    failures: list[DeliveryError] = field(default_factory=list)  # raised first, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append((channel, recipient.username, message.text))


def cycle(rt: Runtime, send: Recorder) -> SweepReport:
    report = sweep_reminders(rt)
    publish_outbox(rt, in_process(rt, send))
    return report


def reminders(rt: Runtime) -> list[Reminder]:
    with rt.database.session() as session:
        return list(
            session.exec(select(Reminder).order_by(col(Reminder.fire_at), col(Reminder.key)))
        )


def deliveries(rt: Runtime) -> list[Delivery]:
    with rt.database.session() as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))))


def test_a_due_reminder_is_sent_once_at_its_local_time(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    send = Recorder()
    # January's item: three days before the month, 09:00 in Shanghai, is 01:00 UTC on 29 December.
    clock.set(dt.datetime(2026, 12, 29, 8, 59, tzinfo=TZ))
    assert cycle(rt, send) == SweepReport()
    assert send.sent == []

    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    report = cycle(rt, send)
    assert (report.queued, report.deliveries) == (1, 1)
    [(channel, user, text)] = send.sent
    assert (channel, user) == ("log", "chen-school")
    assert text == "梓山中学工会：1月计划事项即将开始：1月活动（1月31日前完成）。"

    for _ in range(3):  # later cycles find nothing more to send
        assert cycle(rt, send) == SweepReport()
    assert len(send.sent) == 1
    [first] = [r for r in reminders(rt) if r.status == ReminderStatus.SENT]
    assert (first.kind, first.sent_at) == ("item_month_start", clock())
    [delivery] = deliveries(rt)
    assert delivery.key == f"{first.key}:log:chen-school"
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)


def test_overdue_notice_skips_done_items_and_reaches_the_township(
    rt: Runtime, clock: SimulatedClock
) -> None:
    plan_id = world_with_live_plan(rt, items=2)
    clock.set(dt.datetime(2027, 2, 1, 10, tzinfo=TZ))
    report_item(rt, plan_id=plan_id, actor="chen-school", item_number=1, status=ItemStatus.DONE)
    send = Recorder()
    # Everything up to a week after February's due day (28 Feb → 7 March), a cycle a day.
    day = dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ)
    while day <= dt.datetime(2027, 3, 7, 9, 0, tzinfo=TZ):
        clock.set(day)
        cycle(rt, send)
        day += dt.timedelta(days=1)
    overdue = [(user, text) for _, user, text in send.sent if "已逾期" in text]
    assert overdue == [
        (
            "chen-school",
            "梓山中学工会：2月计划事项已逾期：2月活动（应于2月28日前完成），请尽快报告完成情况。",
        ),
        (
            "zhao-zishan",
            "镇工会审核人：梓山中学工会的2月计划事项已逾期：2月活动（应于2月28日前完成），"
            "请督促其尽快报告完成情况。",
        ),
    ]
    # January's item was done: its overdue notice (to both roles) was not sent.
    skipped = [r for r in reminders(rt) if r.status == ReminderStatus.SKIPPED]
    assert [(r.recipient_role, r.last_error) for r in skipped] == [
        ("drafter", "the item was reported done"),
        ("township_reviewer", "the item was reported done"),
    ]
    assert len(send.sent) == 2 + 2 + 2  # month start and due of each item, February's overdue


def test_catch_up_after_downtime_sends_recent_ones_and_marks_older_missed(
    rt: Runtime, clock: SimulatedClock
) -> None:
    world_with_live_plan(rt)
    send = Recorder()
    # Down from before 29 December until 2 February 10:00: the window is three days.
    clock.set(dt.datetime(2027, 2, 2, 10, tzinfo=TZ))
    report = cycle(rt, send)
    sent_texts = [text for _, _, text in send.sent]
    # 29 Jan (Feb month start, 4 days ago) and 31 Jan (January due) … 31 Jan is within 3 days.
    assert sent_texts == [
        "梓山中学工会：1月计划事项今天到期：1月活动（1月31日）。完成后请及时报告完成情况。"
    ]
    assert (report.queued, report.missed) == (1, 2)
    missed = [r for r in reminders(rt) if r.status == ReminderStatus.MISSED]
    assert [r.fire_at.astimezone(TZ).date() for r in missed] == [
        dt.date(2026, 12, 29),
        dt.date(2027, 1, 29),
    ]
    assert (
        missed[0].last_error is not None and "PLANFLOW_CATCHUP_WINDOW_DAYS" in missed[0].last_error
    )
    assert cycle(rt, send) == SweepReport()  # caught up once
    assert len(send.sent) == 1


def test_failed_delivery_retries_with_backoff_then_dies(
    database_url: str, clock: SimulatedClock
) -> None:
    settings = Settings(
        database_url=database_url, delivery_max_attempts=3, retry_backoff_seconds=60
    )
    rt = _runtime(settings, clock)
    world_with_live_plan(rt)
    send = Recorder(failures=[DeliveryError("smtp busy", retryable=True)] * 3)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    cycle(rt, send)
    [delivery] = deliveries(rt)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.next_attempt_at == clock() + dt.timedelta(seconds=60)
    clock.advance(dt.timedelta(seconds=59))
    assert cycle(rt, send).requeued == 0
    clock.advance(dt.timedelta(seconds=1))
    assert cycle(rt, send).requeued == 1
    [delivery] = deliveries(rt)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)
    assert delivery.next_attempt_at == clock() + dt.timedelta(seconds=120)  # doubled
    clock.advance(dt.timedelta(seconds=120))
    cycle(rt, send)
    [delivery] = deliveries(rt)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 3)
    assert delivery.last_error == "try 3: smtp busy"
    assert [r.status for r in reminders(rt)].count(ReminderStatus.DEAD) == 1
    assert send.sent == []
    clock.advance(dt.timedelta(days=1))
    assert cycle(rt, send) == SweepReport()  # dead stays dead until an operator retries
    rt.database.dispose()


def test_a_refusal_is_dead_at_once(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    send = Recorder(failures=[DeliveryError("chen-school has no email address", retryable=False)])
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    cycle(rt, send)
    [delivery] = deliveries(rt)
    assert (delivery.status, delivery.last_error) == (
        DeliveryStatus.DEAD,
        "try 1: chen-school has no email address",
    )


def test_nobody_to_receive_is_dead_with_the_reason(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    revoke_role(rt, username="chen-school", role="drafter")
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    report = cycle(rt, Recorder())
    assert report.undeliverable == 1
    [dead] = [r for r in reminders(rt) if r.status == ReminderStatus.DEAD]
    assert dead.last_error is not None
    assert dead.last_error.startswith("nobody holds the role drafter (计划起草人) for 梓山中学工会")


def test_channels_per_role(database_url: str, clock: SimulatedClock) -> None:
    settings = Settings(
        database_url=database_url,
        default_channels=["log"],
        role_channels={"township_reviewer": ["email", "webhook"]},
    )
    rt = _runtime(settings, clock)
    world_with_live_plan(rt, items=1)
    send = Recorder()
    clock.set(dt.datetime(2027, 2, 7, 9, 0, tzinfo=TZ))  # a week after January's due day
    cycle(rt, send)
    assert sorted((channel, user) for channel, user, _ in send.sent) == [
        ("email", "zhao-zishan"),
        ("log", "chen-school"),
        ("webhook", "zhao-zishan"),
    ]
    rt.database.dispose()


def test_deliver_is_idempotent_and_a_lapsed_lease_is_taken_over(
    rt: Runtime, clock: SimulatedClock
) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)
    [delivery] = deliveries(rt)
    assert delivery.id is not None
    # A worker claims it and dies before sending (no outcome recorded).
    with rt.database.session() as session:
        session.connection().execute(
            sql.CLAIM_DELIVERIES,
            {
                "ids": [delivery.id],
                "now": clock(),
                "lease_until": clock() + dt.timedelta(minutes=5),
            },
        )
    send = Recorder()
    assert deliver(rt, [delivery.id], send).not_claimed == 1  # someone else holds it
    clock.advance(LEASE)
    assert sweep_reminders(rt).requeued == 1
    report = deliver(rt, [delivery.id], send)
    assert (report.sent, deliver(rt, [delivery.id], send).not_claimed) == (1, 1)
    assert len(send.sent) == 1
    assert deliveries(rt)[0].attempts == 2


def test_unpublishable_batches_stay_in_the_outbox(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)

    def broker_down(_ids: list[int]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    assert publish_outbox(rt, broker_down) == 0
    with rt.database.session() as session:
        [message] = session.exec(select(OutboxMessage)).all()
        assert message.published_at is None
    send = Recorder()
    assert publish_outbox(rt, in_process(rt, send)) == 1
    assert len(send.sent) == 1


def test_two_sweepers_at_once_write_each_delivery_once(
    database_url: str, clock: SimulatedClock
) -> None:
    settings = Settings(database_url=database_url, sweep_batch_size=7)
    rt = _runtime(settings, clock)
    setup_world(rt)
    for org in ("zishan-middle-school", "zishan-bike-factory"):
        live_plan(rt, org, items=12)
    clock.set(dt.datetime(2027, 12, 31, 12, tzinfo=TZ))
    settings_wide = settings.model_copy(update={"catchup_window_days": 400})
    sweepers = [_runtime(settings_wide, clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    reports: list[SweepReport] = []

    def run(sweeper: Runtime) -> None:
        barrier.wait()
        reports.append(sweep_reminders(sweeper))

    threads = [threading.Thread(target=run, args=(s,)) for s in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = reports[0] + reports[1]
    # Every item's reminders are due by now except December's overdue notices (7 January 2028).
    planned = [r for r in reminders(rt) if r.item_id is not None and r.fire_at <= clock()]
    assert total.queued == len(planned) == 2 * (12 * 4 - 2)
    with rt.database.engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar()
    assert count == len(planned)
    for runtime in (*sweepers, rt):
        runtime.database.dispose()


def _runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    from engine.core.calendar import WorkCalendar
    from engine.store.database import Database

    return Runtime(
        database=Database(settings.database_url),
        settings=settings,
        clock=clock,
        calendar=WorkCalendar(),
    )


@pytest.fixture(autouse=True)
def _quiet_dispatch_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="planflow.dispatch")


def test_each_swept_batch_is_published_before_the_next_is_swept(
    database_url: str, clock: SimulatedClock
) -> None:
    settings = Settings(database_url=database_url, sweep_batch_size=2, catchup_window_days=400)
    rt = _runtime(settings, clock)
    world_with_live_plan(rt, items=3)
    # Due by 31 March: three month starts, three due days and the overdue notices of January and
    # February (two roles each): ten reminders, five batches of two.
    clock.set(dt.datetime(2027, 3, 31, 9, 0, tzinfo=TZ))
    still_planned: list[int] = []

    def publish(delivery_ids: list[int]) -> None:
        assert len(delivery_ids) == 2
        waiting = [r for r in reminders(rt) if r.item_id and r.status == ReminderStatus.PLANNED]
        still_planned.append(len(waiting) - 2)  # March's overdue notices are not due yet

    report = sweep_reminders(rt, publish)
    assert (report.queued, report.published) == (10, 5)
    assert still_planned == [8, 6, 4, 2, 0]  # workers get a batch while the rest wait
    rt.database.dispose()


def test_a_reminder_whose_worker_died_after_sending_is_settled_by_the_sweep(
    rt: Runtime, clock: SimulatedClock
) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)
    [delivery] = deliveries(rt)
    # A worker claims, sends and records the delivery, then dies before settling its reminder.
    with rt.database.session() as session:
        connection = session.connection()
        connection.execute(
            sql.CLAIM_DELIVERIES,
            {"ids": [delivery.id], "now": clock(), "lease_until": clock() + LEASE},
        )
        connection.execute(
            sql.FINISH_DELIVERY,
            {
                "delivery_id": delivery.id,
                "attempt": 1,
                "new_status": DeliveryStatus.SENT,
                "sent_at": clock(),
                "retry_at": clock(),
                "reason": None,
            },
        )
    [stuck] = [r for r in reminders(rt) if r.status == ReminderStatus.QUEUED]  # unsettled
    assert sweep_reminders(rt) == SweepReport()  # nothing to send, nothing requeued…
    settled = next(r for r in reminders(rt) if r.id == stuck.id)
    assert settled.status == ReminderStatus.SENT  # …but the reminder is settled


# --- leases: each send is covered by its own -----------------------------------------------------

SHORT_LEASE = dt.timedelta(seconds=60)


@dataclass
class SlowReceiver(Recorder):
    """A channel whose every post takes `seconds` on the simulated clock; `during` runs in the
    middle of the post numbered `at` (0-based), as other processes would meanwhile."""

    clock: SimulatedClock | None = None
    seconds: float = 0.0
    during: dict[int, Callable[[], object]] = field(default_factory=dict)
    slow_posts: dict[int, float] = field(default_factory=dict)  # post number → seconds

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        assert self.clock is not None
        with self.lock:  # (sends side by side take their numbers in turn)
            number = len(self.sent)
            self.sent.append((channel, recipient.username, message.key or ""))
            self.clock.advance(dt.timedelta(seconds=self.slow_posts.get(number, self.seconds)))
        if number in self.during:
            self.during[number]()


@pytest.fixture
def lease_rt(database_url: str, clock: SimulatedClock) -> Iterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        delivery_lease_seconds=int(SHORT_LEASE.total_seconds()),
        delivery_concurrency=1,
        catchup_window_days=400,
    )
    rt = _runtime(settings, clock)
    world_with_live_plan(rt, items=3)
    # Ten reminders of January to March are due: one batch of ten deliveries.
    clock.set(dt.datetime(2027, 3, 31, 9, 0, tzinfo=TZ))
    yield rt
    rt.database.dispose()


def test_a_batch_longer_than_its_lease_sends_each_delivery_once(
    lease_rt: Runtime, clock: SimulatedClock
) -> None:
    # (One send at a time: sends side by side would share this one simulated clock, so that a
    # send's time would depend on how the threads happen to run. The drill
    # tests/drills/test_slow_receiver.py runs them side by side on the real clock.)
    rt = lease_rt
    assert sweep_reminders(rt).deliveries == 10
    second = Recorder()  # another worker, fed by the sweep's requeues
    # 20 s a post: the batch takes 200 s against a 60 s lease, and during every post a scheduler
    # sweeps and a second worker delivers whatever the sweep republished.
    first = SlowReceiver(clock=clock, seconds=20)
    first.during = {n: lambda: cycle(rt, second) for n in range(10)}
    publish_outbox(rt, in_process(rt, first))
    cycle(rt, second)
    assert second.sent == []
    assert sorted(key for *_, key in first.sent) == sorted(d.key for d in deliveries(rt))
    assert {(d.status, d.attempts) for d in deliveries(rt)} == {(DeliveryStatus.SENT, 1)}
    sent_reminders = {d.reminder_id for d in deliveries(rt)}
    assert {r.status for r in reminders(rt) if r.id in sent_reminders} == {ReminderStatus.SENT}


def test_an_outcome_after_the_lease_ran_out_is_recorded(
    lease_rt: Runtime, clock: SimulatedClock
) -> None:
    rt = lease_rt
    sweep_reminders(rt)
    # The third post hangs for two leases; meanwhile the sweep requeues that delivery (its
    # message is in flight to another worker, which has not claimed it yet), and the seven after
    # it, whose reservation lapsed one lease after this worker's last claim.
    requeued: list[int] = []
    first = SlowReceiver(clock=clock, slow_posts={2: 2 * SHORT_LEASE.total_seconds()})
    first.during = {2: lambda: requeued.append(sweep_reminders(rt).requeued)}
    publish_outbox(rt, in_process(rt, first))  # (this worker also takes the republished one)
    assert requeued == [8]
    assert len({key for *_, key in first.sent}) == len(first.sent) == 10
    late = next(d for d in deliveries(rt) if d.key == first.sent[2][2])
    assert (late.status, late.attempts) == (DeliveryStatus.SENT, 1)  # recorded, not dropped
    second = Recorder()
    cycle(rt, second)  # the requeued message arrives: nothing left to send
    assert second.sent == []
    assert {d.status for d in deliveries(rt)} == {DeliveryStatus.SENT}


def test_a_late_sent_outlives_the_try_that_took_the_delivery_over(
    lease_rt: Runtime, clock: SimulatedClock
) -> None:
    rt = lease_rt
    sweep_reminders(rt)
    # The first post hangs past its lease; meanwhile a sweep republishes the batch and a second
    # worker claims that delivery and tries it (the receiver refuses that try: busy), then sends
    # the nine others, which the first worker then finds taken.
    second = Recorder(failures=[DeliveryError("webhook busy", retryable=True)])
    first = SlowReceiver(clock=clock, slow_posts={0: 2 * SHORT_LEASE.total_seconds()})
    first.during = {0: lambda: cycle(rt, second)}
    publish_outbox(rt, in_process(rt, first))
    key = first.sent[0][2]
    [taken_over] = [d for d in deliveries(rt) if d.key == key]
    # The first worker's "sent" came last and stands: the message did reach the receiver, so the
    # second worker's failure must not make the delivery go out again after its backoff.
    assert (taken_over.status, taken_over.attempts) == (DeliveryStatus.SENT, 2)
    assert taken_over.last_error is not None and "lease" in taken_over.last_error
    assert len(first.sent) == 1 and len(second.sent) == 9
    for _ in range(3):
        clock.advance(dt.timedelta(hours=1))
        cycle(rt, second)
    assert len(second.sent) == 9, "nothing went out again"
    sent_keys = [first.sent[0][2]] + [d.key for d in deliveries(rt) if d.key != key]
    assert len(set(sent_keys)) == 10
    assert {d.status for d in deliveries(rt)} == {DeliveryStatus.SENT}


@pytest.mark.parametrize(
    ("channels", "timeout", "least_lease", "slowest"),
    [
        # 5 network waits of 2 s, plus the 2 s margin.
        ({"default_channels": ["log", "webhook"]}, 2, 12, "webhook send can take: 5 network"),
        # 12 network waits of 10 s (the default timeout), plus the margin.
        ({"role_channels": {"drafter": ["email"]}}, 10, 122, "email send can take: 12 network"),
    ],
)
def test_a_lease_that_one_send_can_outlast_is_refused(
    channels: dict[str, Any], timeout: float, least_lease: int, slowest: str
) -> None:
    with pytest.raises(ValueError, match="PLANFLOW_DELIVERY_LEASE_SECONDS") as refused:
        Settings(delivery_lease_seconds=least_lease - 1, send_timeout_seconds=timeout, **channels)
    assert slowest in str(refused.value)
    assert "PLANFLOW_SEND_TIMEOUT_SECONDS" in str(refused.value)
    Settings(delivery_lease_seconds=least_lease, send_timeout_seconds=timeout, **channels)
    # The log channel waits on nothing: the least lease the settings allow will do.
    Settings(delivery_lease_seconds=5, send_timeout_seconds=60, default_channels=["log"])


def test_a_batch_that_could_outlast_the_brokers_visibility_timeout_is_refused() -> None:
    def slow_email(concurrency: int, broker_url: str | None) -> Settings:
        return Settings(
            default_channels=["email"],
            delivery_lease_seconds=300,
            delivery_concurrency=concurrency,
            broker_url=broker_url,
        )

    broker = "redis://127.0.0.1:6379/0"
    # 100 deliveries, 4 at a time: 25 rounds of at most 12 waits × 10 s + 2 s = 3,050 s.
    slow_email(4, broker)
    with pytest.raises(ValueError, match=r"PLANFLOW_DELIVERY_BATCH_SIZE \(100\)") as refused:
        slow_email(3, broker)
    assert "34 × 122 s = 4148 s, longer than the broker's visibility timeout (3600 s)" in str(
        refused.value
    )
    slow_email(3, None)  # embedded: no broker hands the batch to anyone else
