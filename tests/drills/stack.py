"""The drills' stage: a live plan on PostgreSQL, a private Redis, a counting webhook, processes.

A `Drill` holds one plan in `executing` (twelve monthly items, 48 reminder rows) and starts
`planflow scheduler` and `celery worker` subprocesses configured for it through `PLANFLOW_*`
variables: the webhook channel only, to the drill's receiver, with short intervals (a cycle every
0.2 s, a 6 s delivery lease — the least the settings allow with a 0.8 s send timeout — 1 s
retry backoff).

The processes run on the real clock, so nothing is due by itself: the drill moves every reminder a
month ahead, then makes the rows it wants due by writing their `fire_at` in the recent past (or 1
or 5 days back, for the catch-up drill). Every reminder of the plan has exactly one recipient (the
school's drafter or the town's reviewer) and the webhook is the only channel, so "exactly once per
channel and recipient" means: one delivery row per due reminder, `sent`, and at the receiver one
distinct Idempotency-Key per due reminder — those keys and no others.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from engine.core.clock import SimulatedClock
from engine.service.actions import act
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.store.statements import table_of
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import Delivery, OutboxMessage, Reminder
from tests.drills.scheduler_process import SchedulerProcess
from tests.workers.celery_worker import CeleryWorker
from tests.workers.redis_server import RedisServer
from tests.workers.webhook_receiver import WebhookReceiver
from tests.world import setup_world, small_plan

# Drills run on PostgreSQL only: it is the production database, and the one whose row locks
# (`FOR UPDATE SKIP LOCKED`) two sweeping schedulers rely on.
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DRAFTER = "chen-school"
ITEMS = 12
WAIT_SECONDS = 30.0  # for a condition that normally holds within a few seconds
_REMINDER = table_of(Reminder)
_DELIVERY = table_of(Delivery)
_OUTBOX = table_of(OutboxMessage)


def eventually(
    check: Callable[[], bool], what: str | Callable[[], str], timeout: float = WAIT_SECONDS
) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds, saying `what` (a callable is
    asked then, to describe the state at that moment)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {timeout:g} s, still not: {what() if callable(what) else what}"
            )
        time.sleep(0.05)


def make_live_plan(rt: Runtime) -> int:
    """The demo world and one school plan driven to `executing`; returns the plan id.

    The plan's year is two years ahead of the real clock, so its timer (`begin_evaluation` on
    1 December) never fires under a drill's scheduler, which runs on real time. It is built at
    the real time too: the drill's processes write to its log later (retries), and a log never
    runs backwards.
    """
    year = dt.datetime.now(dt.UTC).year + 2
    clock = rt.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(dt.datetime.now(SHANGHAI))
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(year=year, items=ITEMS), actor=DRAFTER).plan_id
    for trigger, actor in (
        ("submit", DRAFTER),
        ("approve", "zhao-zishan"),
        ("approve", "wang-county"),
        ("approve", "li-county"),
    ):
        act(rt, plan_id=plan_id, trigger=trigger, actor=actor)
    return plan_id


@dataclass
class Drill:
    directory: Path
    database_url: str
    rt: Runtime  # the test's own: builds the plan (simulated clock), then reads on real time
    redis: RedisServer
    receiver: WebhookReceiver
    settings: dict[str, str]  # PLANFLOW_* shared by every process of the drill
    reminder_ids: list[int] = field(default_factory=list)  # the plan's item reminders, by id
    _processes: list[CeleryWorker | SchedulerProcess] = field(default_factory=list)

    # --- processes ----------------------------------------------------------------------------

    def env(
        self, broker_url: str | None = None, overrides: Mapping[str, object] | None = None
    ) -> dict[str, str]:
        """The environment of a process: the drill's settings, then `overrides` (by setting
        name, e.g. {"delivery_batch_size": 4})."""
        settings = {
            **self.settings,
            "PLANFLOW_DATABASE_URL": self.database_url,
            "PLANFLOW_BROKER_URL": broker_url or self.redis.url,
        }
        for name, value in (overrides or {}).items():
            settings[f"PLANFLOW_{name.upper()}"] = str(value)
        return settings

    def worker(
        self, *, broker_url: str | None = None, overrides: Mapping[str, object] | None = None
    ) -> CeleryWorker:
        """A started `celery worker` (one pool process), stopped with the drill."""
        worker = CeleryWorker(
            self.directory,
            database_url=self.database_url,
            broker_url=broker_url or self.redis.url,
            env=self.env(broker_url, overrides),
        )
        self._processes.append(worker)
        worker.start()
        return worker

    def scheduler(
        self,
        name: str,
        *,
        broker_url: str | None = None,
        overrides: Mapping[str, object] | None = None,
    ) -> SchedulerProcess:
        """A started `planflow scheduler`, stopped with the drill."""
        scheduler = SchedulerProcess(self.directory, name=name, env=self.env(broker_url, overrides))
        self._processes.append(scheduler)
        scheduler.start()
        return scheduler

    def finish(self) -> None:
        """End the drill's processes so that the counts are final: schedulers stop on SIGTERM
        (their running cycle completes and logs), workers are killed (with every delivery
        recorded as sent, none of them has anything left to post)."""
        for process in self._processes:
            if isinstance(process, SchedulerProcess):
                process.stop()
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every process of the drill: after this nothing more can reach the receiver."""
        for process in self._processes:
            process.kill()

    # --- the database -------------------------------------------------------------------------

    def make_due(self, ids: Sequence[int], at: dt.datetime | Sequence[dt.datetime]) -> None:
        """Give reminders `ids` the fire time `at` (one for all, or one each)."""
        times = [at] * len(ids) if isinstance(at, dt.datetime) else list(at)
        self._execute(
            sa.update(_REMINDER)
            .where(_REMINDER.c.id == sa.bindparam("rid"))
            .values(fire_at=sa.bindparam("at")),
            [{"rid": rid, "at": moment} for rid, moment in zip(ids, times, strict=True)],
        )

    def reminders(self, ids: Iterable[int]) -> list[Any]:
        """The reminder rows `ids`, by id."""
        query = sa.select(_REMINDER).where(_REMINDER.c.id.in_(list(ids))).order_by(_REMINDER.c.id)
        return self._rows(query)

    def reminder_statuses(self, ids: Iterable[int]) -> dict[int, str]:
        return {row.id: row.status for row in self.reminders(ids)}

    def deliveries(self, ids: Iterable[int]) -> list[Any]:
        """The delivery rows of reminders `ids`, by id."""
        query = (
            sa.select(_DELIVERY)
            .where(_DELIVERY.c.reminder_id.in_(list(ids)))
            .order_by(_DELIVERY.c.id)
        )
        return self._rows(query)

    def unpublished_batches(self) -> int:
        query = sa.select(sa.func.count()).where(_OUTBOX.c.published_at.is_(None))
        count: int = self._rows(query)[0][0]
        return count

    def all_sent(self, ids: Sequence[int]) -> bool:
        """Whether every reminder of `ids` and its delivery are recorded as sent."""
        rows = self.deliveries(ids)
        return (
            len(rows) == len(ids)
            and all(row.status == DeliveryStatus.SENT for row in rows)
            and set(self.reminder_statuses(ids).values()) == {ReminderStatus.SENT}
        )

    def wait_all_sent(self, ids: Sequence[int], timeout: float = WAIT_SECONDS) -> None:
        eventually(
            lambda: self.all_sent(ids),
            lambda: f"all {len(ids)} reminders and deliveries sent: {self._progress(ids)}",
            timeout,
        )

    # --- the verdict --------------------------------------------------------------------------

    def assert_exactly_once(
        self, ids: Sequence[int], *, repeated_posts: int = 0, refused_posts: int = 0
    ) -> list[Any]:
        """Every reminder of `ids` went out exactly once, judged at both ends; returns the rows.

        `repeated_posts` is the number of posts the receiver may have seen twice under the same
        key (a send interrupted by a crash); `refused_posts` those it answered with an error (to
        be tried again). Beyond those, every key arrived once.
        """
        rows = self.deliveries(ids)
        assert len(rows) == len(ids), "one delivery per reminder, channel and recipient"
        assert {row.status for row in rows} == {DeliveryStatus.SENT}
        assert set(self.reminder_statuses(ids).values()) == {ReminderStatus.SENT}
        keys = self.receiver.keys()
        assert set(keys) == {row.key for row in rows}, "the receiver got these keys, no others"
        assert self.receiver.distinct_keys == len(ids)
        refused = [post for post in self.receiver.posts() if post.status >= 400]
        assert len(refused) == refused_posts
        assert self.receiver.raw_posts == len(ids) + repeated_posts + refused_posts
        return rows

    # --- internals ----------------------------------------------------------------------------

    def _progress(self, ids: Sequence[int]) -> str:
        reminders = Counter(self.reminder_statuses(ids).values())
        deliveries = Counter(row.status for row in self.deliveries(ids))
        return f"reminders {dict(reminders)}, deliveries {dict(deliveries)}"

    def _rows(self, query: sa.Select[Any]) -> list[Any]:
        with self.rt.database.session() as session:
            return list(session.connection().execute(query))

    def _execute(self, statement: sa.Executable, params: list[dict[str, Any]]) -> None:
        with self.rt.database.session() as session:
            session.connection().execute(statement, params)


def push_all_ahead(rt: Runtime, plan_id: int) -> list[int]:
    """Move every reminder of the plan a month ahead of the real clock; returns the item
    reminders' ids. Nothing is due until a drill says so."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with rt.database.session() as session:
        connection = session.connection()
        connection.execute(
            sa.update(_REMINDER).where(_REMINDER.c.plan_id == plan_id).values(fire_at=later)
        )
        ids = connection.execute(
            sa.select(_REMINDER.c.id)
            .where(_REMINDER.c.plan_id == plan_id, _REMINDER.c.item_id.is_not(None))
            .order_by(_REMINDER.c.id)
        ).scalars()
        return list(ids)


def ago(**delta: float) -> dt.datetime:
    """A moment before now on the real clock, the one the drill's processes read."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(**delta)
