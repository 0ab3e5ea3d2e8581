"""The scheduler process: its fixed jobs, the leader lock on a real Redis, and outages.

Lock tests run their own `redis-server` (tests/workers/redis_server.py) so they can stop it. The
lock lives 3 s (the smallest the settings allow) and is renewed every second; cycles run every
0.1 s on an empty, migrated SQLite database, so a cycle that runs is visible in the scheduler's
status without anything to send.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlmodel import select

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.service.runtime import Runtime, open_runtime
from engine.store.statuses import DeliveryStatus
from engine.store.tables import Delivery
from tests.workers.redis_server import RedisServer, running_redis
from tests.world import world_with_live_plan
from workers.scheduler import (
    CYCLE_JOB,
    LEADER_JOB,
    LOCK_NAME,
    LeaderLock,
    Leadership,
    Mode,
    Scheduler,
    build_scheduler,
    run_until_stopped,
)

LOCK_SECONDS = 3
SHANGHAI = ZoneInfo("Asia/Shanghai")


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Wait until `check()` holds; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def schedulers(sqlite_url: str) -> Iterator[Callable[..., Scheduler]]:
    """Builds schedulers on the test's database; stops them and closes their runtimes after."""
    made: list[tuple[Scheduler, Runtime]] = []

    def make(broker_url: str | None = None, **settings: object) -> Scheduler:
        options = {
            "database_url": sqlite_url,
            "broker_url": broker_url,
            "scheduler_lock_seconds": LOCK_SECONDS,
            "sweep_interval_seconds": 0.1,
            **settings,
        }
        rt = open_runtime(Settings.model_validate(options))
        scheduler = build_scheduler(rt)
        made.append((scheduler, rt))
        return scheduler

    yield make
    for scheduler, rt in made:
        scheduler.stop()
        rt.database.dispose()


def test_two_schedulers_on_one_redis_elect_exactly_one(
    redis_server: RedisServer, schedulers: Callable[..., Scheduler]
) -> None:
    first, second = schedulers(redis_server.url), schedulers(redis_server.url)
    first.start()
    second.start()
    assert (first.mode, second.mode) == (Mode.CELERY, Mode.CELERY)
    assert (first.leadership, second.leadership) == (Leadership.LEADER, Leadership.STANDBY)

    # Across several heartbeats the roles hold, and only the leader runs cycles.
    time.sleep(LOCK_SECONDS / 3 * 2.5)
    statuses = first.status(), second.status()
    assert [s.leadership for s in statuses] == [Leadership.LEADER, Leadership.STANDBY]
    assert [s.active for s in statuses] == [True, False]
    assert statuses[0].cycles >= 5
    assert statuses[1].cycles == 0
    assert statuses[0].last_cycle is not None and statuses[0].last_cycle.ok
    assert redis.Redis.from_url(redis_server.url).ttl(LOCK_NAME) > 0


def test_when_the_leader_stops_the_standby_takes_over_within_one_lock_period(
    redis_server: RedisServer, schedulers: Callable[..., Scheduler]
) -> None:
    leader, standby = schedulers(redis_server.url), schedulers(redis_server.url)
    leader.start()
    standby.start()
    leader.stop()  # releases the lock: the standby wins it at its next heartbeat
    took = eventually(lambda: standby.leadership is Leadership.LEADER, timeout=LOCK_SECONDS)
    assert took <= LOCK_SECONDS / 3 + 0.5
    cycles = standby.status().cycles
    eventually(lambda: standby.status().cycles > cycles)


def test_a_lock_that_is_not_renewed_expires_and_its_holder_stops_working(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader that froze (or died without releasing) loses the lock after its lifetime; the
    standby takes it, and the old leader, when it wakes, stands by instead of working."""
    client = redis.Redis.from_url(redis_server.url)
    frozen, standby = (LeaderLock(client, timeout=LOCK_SECONDS) for _ in range(2))
    assert frozen.heartbeat() is Leadership.LEADER
    assert standby.heartbeat() is Leadership.STANDBY
    took = eventually(lambda: standby.heartbeat() is Leadership.LEADER, timeout=LOCK_SECONDS + 1)
    assert LOCK_SECONDS - 0.5 < took <= LOCK_SECONDS + 0.5
    with caplog.at_level(logging.WARNING, logger="planflow.scheduler"):
        assert frozen.heartbeat() is Leadership.STANDBY
    assert "lost the scheduler lock planflow:scheduler" in caplog.text
    assert standby.heartbeat() is Leadership.LEADER
    client.close()


def test_without_redis_the_scheduler_keeps_running_cycles(
    redis_server: RedisServer,
    schedulers: Callable[..., Scheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = schedulers(redis_server.url)
    scheduler.start()
    assert scheduler.leadership is Leadership.LEADER
    with caplog.at_level(logging.WARNING, logger="planflow.scheduler"):
        redis_server.stop()
        eventually(lambda: scheduler.leadership is Leadership.REDIS_UNREACHABLE)
        cycles = scheduler.status().cycles
        eventually(lambda: scheduler.status().cycles >= cycles + 3)
    assert scheduler.status().active
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # said once, not at every heartbeat
    assert warnings[0].startswith("cannot reach Redis for the scheduler lock")

    # Redis comes back empty: the lock it held is gone, and the scheduler takes it again.
    redis_server.start()
    eventually(lambda: scheduler.leadership is Leadership.LEADER, timeout=LOCK_SECONDS)


def test_an_unreachable_database_fails_cycles_without_stopping_them(
    schedulers: Callable[..., Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = schedulers(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with caplog.at_level(logging.WARNING, logger="planflow.scheduler"):
        scheduler.start()
        eventually(lambda: scheduler.status().cycles >= 3)
    last = scheduler.status().last_cycle
    assert last is not None and not last.ok
    assert last.summary.startswith("cycle failed: OperationalError:")
    assert "cycle failed: OperationalError" in caplog.text
    assert scheduler.status().running


def test_embedded_mode_delivers_in_process_without_redis(
    sqlite_url: str, clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="planflow.dispatch")
    settings = Settings(database_url=sqlite_url, sweep_interval_seconds=0.1)
    rt = open_runtime(settings, clock=clock)
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=SHANGHAI))  # January's first reminder
    scheduler = build_scheduler(rt)
    assert (scheduler.mode, scheduler.lock, scheduler.leadership) == (
        Mode.EMBEDDED,
        None,
        Leadership.NO_LOCK,
    )
    with caplog.at_level(logging.INFO, logger="planflow.scheduler"):
        scheduler.start()
        try:
            eventually(lambda: [d.status for d in _deliveries(rt)] == [DeliveryStatus.SENT])
            eventually(lambda: scheduler.status().cycles >= 3)
        finally:
            scheduler.stop()
            rt.database.dispose()
    # One log line for the cycle that sent something, none for the idle ones after it.
    cycle_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cycle:")]
    assert len(cycle_lines) == 1
    assert "reminders queued 1 (1 deliveries)" in cycle_lines[0]
    assert "batches published 1" in cycle_lines[0]


def test_the_jobs_have_fixed_ids(
    redis_server: RedisServer, schedulers: Callable[..., Scheduler]
) -> None:
    scheduler = schedulers(redis_server.url)
    scheduler.start()
    jobs = {job.id: job for job in scheduler.jobs()}
    assert set(jobs) == {CYCLE_JOB, LEADER_JOB}
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 3600)
    assert jobs[LEADER_JOB].trigger.interval == dt.timedelta(seconds=LOCK_SECONDS / 3)


def _deliveries(rt: Runtime) -> list[Delivery]:
    with rt.database.session() as session:
        return list(session.exec(select(Delivery)))


def test_a_repeated_stop_signal_is_logged_once(
    schedulers: Callable[..., Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    """`timeout` and service managers may signal the process and then its group: two SIGTERMs."""
    scheduler = schedulers()
    start = scheduler.start

    def start_then_signal_twice() -> None:
        start()
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    scheduler.start = start_then_signal_twice  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="planflow.scheduler"):
        run_until_stopped(scheduler)
    said = [r.getMessage() for r in caplog.records if "received" in r.getMessage()]
    assert said == ["SIGTERM received; stopping the scheduler"]
    assert caplog.records[-1].getMessage() == "scheduler stopped"
