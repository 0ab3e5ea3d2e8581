"""The scheduler process: a few fixed APScheduler jobs that run the dispatch cycle.

Two jobs with fixed ids, whatever the number of reminders (DESIGN.md §2, "Reminder dispatch"):
"planflow-cycle" calls `engine.service.cycle.run_cycle` every `sweep_interval_seconds` (timers,
escalations, the reminder sweep, publishing), and "planflow-leader" renews the leader lock every
third of `scheduler_lock_seconds`. Reminders are rows in the database, so the scheduler holds no
state worth persisting: its job store is memory, and a restart simply sweeps again, catching up
what fell due meanwhile.

Two modes, from the settings:
- **Celery** (`PLANFLOW_BROKER_URL` set): batches are published to `planflow worker`s through the
  broker, and a Redis lock elects one active scheduler among several. The lock only saves work:
  correctness comes from the database's row locks (`FOR UPDATE SKIP LOCKED`), so a scheduler that
  cannot reach Redis keeps running its cycles, and publishing, which then fails too, leaves the
  batches in the outbox for a later cycle.
- **Embedded** (no broker): no Redis and no lock; each batch is delivered in this process by the
  same `deliver` the workers run.

Both `planflow scheduler` and `planflow serve` run a `BackgroundScheduler`; the command's main
thread waits for SIGTERM or SIGINT and then stops it from ordinary code (`run_until_stopped`),
rather than running `BlockingScheduler.shutdown` inside a signal handler in the middle of the
scheduler's own loop. Stopping waits for a running cycle, then releases the lock so that a
standby scheduler takes over at its next heartbeat instead of when the lock expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import FrameType

import redis
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from redis.backoff import NoBackoff
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock
from redis.retry import Retry
from sqlalchemy.exc import SQLAlchemyError

from engine.core.errors import ConfigurationError, first_line
from engine.service.cycle import CycleReport, run_cycle
from engine.service.dispatch import Publish, in_process
from engine.service.runtime import Runtime
from workers.celery_app import create_app
from workers.sending import ChannelSender
from workers.tasks import celery_publisher

log = logging.getLogger("planflow.scheduler")

LOCK_NAME = "planflow:scheduler"
CYCLE_JOB = "planflow-cycle"
LEADER_JOB = "planflow-leader"
# Redis calls of the lock fail fast: a heartbeat stuck on a dead server would hold up the next
# one, and the answer "unreachable" is as useful after two seconds as after thirty.
REDIS_TIMEOUT_SECONDS = 2.0


class Mode(StrEnum):
    EMBEDDED = "embedded"
    CELERY = "celery"


class Leadership(StrEnum):
    """Where this scheduler stands; it runs cycles unless another one holds the lock."""

    LEADER = "leader"  # holds the Redis lock
    STANDBY = "standby"  # another scheduler holds it
    REDIS_UNREACHABLE = "redis unreachable"  # cannot tell: works, the database keeps it correct
    NO_LOCK = "no lock"  # embedded mode: the only scheduler there is

    @property
    def works(self) -> bool:
        return self is not Leadership.STANDBY


class LeaderLock:
    """Leader election with a redis-py `Lock` that expires unless renewed.

    `heartbeat` renews the lock when this scheduler holds it and tries to take it otherwise, so a
    standby scheduler takes over within one lock period of the leader's last renewal. The token
    is not thread-local: APScheduler runs each heartbeat on whichever pool thread is free, and
    every one of them must see the token the first one acquired.
    """

    def __init__(self, client: redis.Redis, *, timeout: float, name: str = LOCK_NAME) -> None:
        self.name = name
        self.timeout = timeout
        self._lock = Lock(client, name, timeout=timeout, thread_local=False)
        self._held = False
        self.state = Leadership.STANDBY

    def heartbeat(self) -> Leadership:
        """Renew or try to take the lock; returns (and keeps in `state`) where we now stand."""
        try:
            if self._held:
                try:
                    self._lock.extend(self.timeout, replace_ttl=True)
                    return self._become(Leadership.LEADER)
                except LockNotOwnedError:
                    # It expired (a pause longer than its lifetime, Redis restarted empty) and
                    # maybe another scheduler took it: stop working until we win it again.
                    self._held = False
                    log.warning("lost the scheduler lock %s; trying to win it back", self.name)
            self._held = self._lock.acquire(blocking=False)
            return self._become(Leadership.LEADER if self._held else Leadership.STANDBY)
        except RedisError as error:
            if self.state is not Leadership.REDIS_UNREACHABLE:
                log.warning(
                    "cannot reach Redis for the scheduler lock (%s); running cycles anyway, "
                    "the database's row locks keep them from sending anything twice",
                    first_line(error),
                )
            self.state = Leadership.REDIS_UNREACHABLE
            return self.state

    def release(self) -> None:
        """Give the lock up, if held, so a standby scheduler need not wait for it to expire."""
        if not self._held:
            return
        self._held = False
        self.state = Leadership.STANDBY
        try:
            self._lock.release()
        except (LockError, RedisError) as error:  # expired, taken over, or Redis is gone
            log.info("scheduler lock %s not released: %s", self.name, first_line(error))

    def _become(self, state: Leadership) -> Leadership:
        if state is not self.state:
            if state is Leadership.LEADER:
                log.info("this scheduler holds the lock %s and is the active one", self.name)
            else:
                log.info(
                    "another scheduler holds the lock %s; standing by, trying every %.0f s",
                    self.name,
                    self.timeout / 3,
                )
        self.state = state
        return state


@dataclass(frozen=True)
class CycleRecord:
    """The last cycle, for `/healthz`: when it started (runtime clock) and how it went."""

    at: dt.datetime
    summary: str
    ok: bool


@dataclass(frozen=True)
class SchedulerStatus:
    mode: Mode
    running: bool
    leadership: Leadership
    cycles: int  # cycles run since start (not counting those skipped on standby)
    last_cycle: CycleRecord | None

    @property
    def active(self) -> bool:
        """Whether this process is the one doing the scheduler's work right now."""
        return self.running and self.leadership.works


@dataclass
class Scheduler:
    """The two fixed jobs around `run_cycle`, with the leader lock when there is one."""

    rt: Runtime
    publish: Publish
    mode: Mode
    lock: LeaderLock | None = None
    closers: list[Callable[[], object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        settings = self.rt.settings
        self._scheduler = BackgroundScheduler(
            timezone=dt.UTC,
            job_defaults={
                "coalesce": True,  # runs missed while suspended become one run, not a burst
                "max_instances": 1,  # a long cycle is never overlapped by the next
                "misfire_grace_time": max(1, round(settings.scheduler_misfire_grace_hours * 3600)),
            },
        )
        self._state_lock = threading.Lock()
        self._stopped = False
        self._cycles = 0
        self._last: CycleRecord | None = None

    @property
    def leadership(self) -> Leadership:
        return self.lock.state if self.lock is not None else Leadership.NO_LOCK

    def start(self) -> None:
        """Take a first heartbeat, add the jobs and start; the first cycle runs at once."""
        settings = self.rt.settings
        if self.lock is not None:
            self.lock.heartbeat()
            self._scheduler.add_job(
                self.lock.heartbeat,
                "interval",
                seconds=settings.scheduler_lock_seconds / 3,
                id=LEADER_JOB,
                name="renew or take the scheduler lock",
                replace_existing=True,
            )
        self._scheduler.add_job(
            self.cycle,
            "interval",
            seconds=settings.sweep_interval_seconds,
            id=CYCLE_JOB,
            name="timers, escalations, reminder sweep, publishing",
            replace_existing=True,
            # APScheduler keeps its own (wall-clock) time; this only says "now, not in 30 s".
            next_run_time=dt.datetime.now(dt.UTC),
        )
        self._scheduler.start()
        log.info(
            "scheduler started (%s mode, %s), a cycle every %g s",
            self.mode,
            self.leadership,
            settings.sweep_interval_seconds,
        )

    def stop(self) -> None:
        """Stop the jobs (waiting for a running cycle), release the lock, close connections.

        Safe to call again, and before `start`."""
        if self._stopped:
            return
        self._stopped = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self.lock is not None:
            self.lock.release()
        for close in self.closers:
            close()
        log.info("scheduler stopped")

    def cycle(self) -> CycleReport | None:
        """One run of the cycle job; never raises, so the job keeps its schedule."""
        if not self.leadership.works:
            return None
        started = self.rt.now()
        try:
            report = run_cycle(self.rt, self.publish)
        except Exception as error:
            summary = f"cycle failed: {type(error).__name__}: {first_line(error)}"
            retry = self.rt.settings.sweep_interval_seconds
            if isinstance(error, SQLAlchemyError):  # the database is down: one line is enough
                log.warning("%s; trying again in %g s", summary, retry)
            else:  # a bug: its traceback is what someone needs to fix it
                log.exception("%s; trying again in %g s", summary, retry)
            self._record(CycleRecord(at=started, summary=summary, ok=False))
            return None
        if report.failures:  # each step's failure is logged already, with its traceback
            log.warning("cycle: %s", report.summary())
        elif not report.idle:
            log.info("cycle: %s", report.summary())
        self._record(CycleRecord(at=started, summary=report.summary(), ok=not report.failures))
        return report

    def jobs(self) -> list[Job]:
        """The scheduled jobs (APScheduler's), for inspection."""
        return list(self._scheduler.get_jobs())

    def status(self) -> SchedulerStatus:
        with self._state_lock:
            return SchedulerStatus(
                mode=self.mode,
                running=self._scheduler.running,
                leadership=self.leadership,
                cycles=self._cycles,
                last_cycle=self._last,
            )

    def _record(self, record: CycleRecord) -> None:
        with self._state_lock:
            self._cycles += 1
            self._last = record


def build_scheduler(rt: Runtime) -> Scheduler:
    """The scheduler for `rt.settings`: Celery mode with a broker URL, embedded mode without."""
    settings = rt.settings
    if settings.broker_url is None:
        return Scheduler(rt, in_process(rt, ChannelSender(settings)), Mode.EMBEDDED)
    try:
        client = redis.Redis.from_url(
            settings.broker_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            # One quick retry for a pooled connection that died with a Redis restart; no backoff
            # loop, for the reason given at REDIS_TIMEOUT_SECONDS.
            retry=Retry(NoBackoff(), 1),
        )
    except ValueError as error:
        raise ConfigurationError(
            "PLANFLOW_BROKER_URL must be a Redis URL (redis://host:port/db): {problem}",
            code="settings.broker_url_invalid",
            field="broker_url",  # (not its value: a Redis URL may hold a password)
            problem=str(error),
        ) from None
    app = create_app(settings)
    return Scheduler(
        rt,
        celery_publisher(app),
        Mode.CELERY,
        lock=LeaderLock(client, timeout=settings.scheduler_lock_seconds),
        closers=[app.close, client.close],
    )


def run_until_stopped(scheduler: Scheduler) -> None:
    """Run `scheduler` until SIGTERM or SIGINT, then stop it cleanly (main thread only)."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Said once: a service manager or `timeout` may signal the process and its group, and a
        # second Ctrl-C while a cycle finishes changes nothing.
        if not stopping.is_set():
            log.info("%s received; stopping the scheduler", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        stopping.wait()
    finally:
        scheduler.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
