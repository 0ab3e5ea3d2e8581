"""Celery mode end to end: the scheduler publishes through a real Redis to a real worker.

The worker is a `celery worker` subprocess (tests/workers/celery_worker.py) on a private
`redis-server` (tests/workers/redis_server.py), reading its settings from `PLANFLOW_*` variables
like a deployed one. Deliveries go out on the `log` channel, whose lines land in the worker's log.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.service.runtime import Runtime, open_runtime
from engine.store.statuses import DeliveryStatus
from engine.store.tables import Delivery
from tests.workers.celery_worker import running_worker
from tests.workers.redis_server import RedisServer, running_redis
from tests.world import world_with_live_plan
from workers.celery_app import DELIVER_TASK, create_app
from workers.scheduler import build_scheduler
from workers.tasks import celery_publisher, retry_countdown

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The worker's line for a batch it handled: "deliveries #FIRST…#LAST (COUNT): SENT sent, …", or
# "deliveries #ID: SENT sent, …" for a batch of one.
BATCH_LINE = re.compile(r"deliveries #\d+(?:…#\d+ \((\d+)\))?: (\d+) sent")


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server


def deliveries(rt: Runtime) -> list[Delivery]:
    with rt.database.session() as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))))


def test_the_scheduler_publishes_a_batch_that_a_worker_delivers(
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    clock: SimulatedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="planflow.dispatch")
    settings = Settings(
        database_url=database_url,
        broker_url=redis_server.url,
        sweep_interval_seconds=0.2,
        catchup_window_days=400,  # everything since January is still worth sending
    )
    rt = open_runtime(settings, clock=clock)
    world_with_live_plan(rt, items=3)
    # End of March: the reminders of January to March are all due.
    clock.set(dt.datetime(2027, 3, 31, 9, 0, tzinfo=SHANGHAI))
    with running_worker(tmp_path, database_url=database_url, broker_url=redis_server.url) as worker:
        # A malformed message first: the worker logs it, acknowledges it and goes on.
        create_app(settings).send_task(DELIVER_TASK, args=["not ids"])
        scheduler = build_scheduler(rt)
        scheduler.start()
        try:
            eventually(
                lambda: (
                    bool(deliveries(rt))
                    and all(d.status == DeliveryStatus.SENT for d in deliveries(rt))
                )
            )
        finally:
            scheduler.stop()
        # The worker writes its batch line after the batch's commit: read the log once the lines
        # account for every sent delivery (or after a few seconds, to fail below saying so).
        deadline = time.monotonic() + 10
        log = worker.log()
        while time.monotonic() < deadline and sum(
            int(done) for _, done in BATCH_LINE.findall(log)
        ) < len(deliveries(rt)):
            time.sleep(0.1)
            log = worker.log()
    sent = deliveries(rt)
    rt.database.dispose()
    assert len(sent) >= 8
    assert all(d.attempts == 1 for d in sent)
    assert "ignored a planflow.deliver message: expected a list of delivery ids, got 'not ids'" in (
        log
    )
    # However the scheduler split the due deliveries into batches (a sweep may land between two
    # cycles), the worker's batch lines add up to every delivery, each sent once. A delivery may be
    # published more than once: the scheduler's clock stands months after the worker's, so to its
    # sweep every lease the worker takes has run out, and on a loaded machine it publishes what
    # the worker has not sent yet again. Such a message finds its deliveries claimed or sent and
    # sends none: publishing is at least once, sending exactly once.
    batches = [(int(count or 1), int(done)) for count, done in BATCH_LINE.findall(log)]
    assert sum(count for count, _ in batches) >= len(sent), batches
    assert sum(done for _, done in batches) == len(sent), batches
    for delivery in sent:
        assert log.count(f"| {delivery.body}") >= 1
    assert log.count("reminder to ") == len(sent)  # each exactly once


def test_a_worker_retries_while_the_database_is_unreachable(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    with running_worker(tmp_path, database_url=nowhere, broker_url=redis_server.url) as worker:
        celery_publisher(create_app(Settings(broker_url=redis_server.url)))([1, 2])
        eventually(lambda: "retrying in" in worker.log())
        log = worker.log()
        assert worker.running
    assert "deliveries #1…#2 (2): the database failed (connection failed:" in log


@pytest.mark.parametrize("tries", range(12))
def test_retry_countdowns_double_and_stay_within_five_minutes(tries: int) -> None:
    ceiling = min(300.0, 2.0 * 2**tries)
    assert ceiling / 2 <= retry_countdown(tries) <= ceiling
