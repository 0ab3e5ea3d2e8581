"""How fast due reminders reach a webhook through Redis and Celery, against one trivial task per
message, and what memory the scheduler keeps.

    python benchmarks/dispatch.py [--plans N] [--reminders M] [--tasks T] [--workers W]
                                  [--memory 10000,100000] [--postgres-url URL]

Everything runs on PostgreSQL (a fresh database per part, created on the server and dropped at
the end) and on a private `redis-server` started on a free port (tests/workers/redis_server.py):
the machine's shared Redis on 6379 would mix in other work, and both figures must share one
broker. The worker is one `celery worker` with W pool processes (default 2), started as the tests
start it (tests/workers/celery_worker.py); the webhook is the counting receiver of the drills
(tests/workers/webhook_receiver.py), run as a process of its own.

1. End to end: N live plans (default 10,000) of N grassroots unions, a drafter each, with
   M / N / 2 monthly items each (titles from the demo plan files), and M reminder rows (default
   100,000: each item's month-start and due-day reminders to the drafter), all due within the
   last hour — written in bulk with COPY. Timed from the first `run_cycle` (the scheduler's cycle:
   sweep into deliveries and outbox batches, publish) until the receiver has counted M distinct
   Idempotency-Keys and every delivery row is `sent`; the loop runs `run_cycle` again every
   `sweep_interval_seconds`, as the scheduler would. Settings are the defaults (sweeps of 1,000,
   batches of 100 deliveries per message).
2. Trivial tasks, same Redis, same worker: T messages (default 100,000), each the deliver task
   with an empty batch (no database, no channel: Celery's own cost per message, with the same
   app settings — late acknowledgement, prefetch 1), published from this process while the
   worker runs them. Timed until the queue and the transport's unacknowledged set are empty.
3. The scheduler's memory: a fresh `planflow scheduler` process (tests/drills/scheduler_process.py)
   on a database holding K planned reminders, half due and half a month ahead, for each K of
   `--memory`; its resident high-water mark (VmHWM) once it has swept and published every due
   one. The sweep works in transactions of `sweep_batch_size`, so the peak should not grow with K.

Prints reminders/s end to end, tasks/s and their ratio (goal ≥ 1.0: batching should beat one task
per reminder), and the peaks. Exit status 0, except 1 under CI=true when PostgreSQL cannot be
reached or redis-server is missing.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import http.client
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
# The fixtures the fault drills use (a private redis-server, a celery worker subprocess, the
# counting webhook, the scheduler process) live in the tests package, which is not installed.
sys.path.insert(0, str(ROOT))

from actions import (  # noqa: E402  (benchmarks/, this script's folder, is on sys.path)
    POSTGRES_ADMIN_URL,
    postgres_database,
    postgres_unreachable,
)
from bulk import copy_returning_ids, copy_rows, one  # noqa: E402
from floor import libpq_url  # noqa: E402

from config.settings import Settings  # noqa: E402
from engine.core.planfile import parse_plan_file  # noqa: E402
from engine.core.planning import item_reminder_kind  # noqa: E402
from engine.demo import plan_files  # noqa: E402
from engine.demo.world import TOWNSHIPS, build_world  # noqa: E402
from engine.service.cycle import run_cycle  # noqa: E402
from engine.service.dispatch import deliver, sweep_reminders  # noqa: E402
from engine.service.runtime import Runtime, open_runtime  # noqa: E402
from engine.service.templates import load_bundled_templates, workflow_by_id  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from tests.drills.scheduler_process import SchedulerProcess  # noqa: E402
from tests.workers.celery_worker import CeleryWorker  # noqa: E402
from tests.workers.redis_server import RedisServer  # noqa: E402
from workers.celery_app import create_app  # noqa: E402
from workers.sending import ChannelSender  # noqa: E402
from workers.tasks import celery_publisher  # noqa: E402

GOAL = 1.0  # reminders/s end to end at least the rate of trivial tasks, one per message
TEMPLATE = "annual-work-plan"
RULES = (0, 1)  # the template's month-start and due-day reminders, both to the drafter
DUE_WITHIN = dt.timedelta(hours=1)  # due reminders fire at spread times over the last hour
NOT_YET = dt.timedelta(days=30)
POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 1800.0  # a run that has not finished by then is reported as stuck
UNACKED_KEY = "unacked"  # kombu's Redis transport: messages delivered, not yet acknowledged


# --- the data -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Population:
    plans: int
    reminders: int
    due: int


def channel_env(webhook_url: str) -> dict[str, str]:
    """The settings that send every reminder to the webhook, as a process's environment."""
    return {
        "PLANFLOW_DEFAULT_CHANNELS": json.dumps(["webhook"]),
        "PLANFLOW_WEBHOOK_URL": webhook_url,
    }


def prepare(settings: Settings) -> Runtime:
    """Migrate the fresh database and load the templates and the demo world."""
    rt = open_runtime(settings)
    upgrade(rt.database)
    load_bundled_templates(rt)
    build_world(rt)
    return rt


def populate(rt: Runtime, *, plans: int, reminders: int, due: int) -> Population:
    """`plans` live plans of as many new grassroots unions (a drafter each) and `reminders`
    planned reminder rows spread evenly over them, the first `due` of them due; with COPY."""
    per_plan = reminders // plans
    if per_plan * plans != reminders or per_plan % len(RULES):
        sys.exit(f"--reminders must be a multiple of {len(RULES)} × --plans")
    items_per_plan = per_plan // len(RULES)
    specs = [parse_plan_file(path) for path in plan_files()]
    titles = [item for spec in specs for item in spec.items]
    now = rt.now()
    with psycopg.connect(libpq_url(rt.settings.database_url)) as connection:
        cur = connection.cursor()
        cur.execute("SELECT max(id) FROM workflow_template WHERE name = %s", [TEMPLATE])
        template_id = one(cur)
        with rt.database.read() as tx:
            workflow = workflow_by_id(rt, tx, template_id)
        kinds = {r: item_reminder_kind(workflow.template.reminders[r]).value for r in RULES}
        cur.execute(
            "SELECT id FROM organisation WHERE code = ANY(%s) ORDER BY id", [list(TOWNSHIPS)]
        )
        townships = [row[0] for row in cur.fetchall()]
        orgs = copy_returning_ids(
            cur,
            "organisation (code, name, parent_id)",
            [(f"bench-union-{k}", f"基准基层工会{k}", townships[k % 2]) for k in range(plans)],
        )
        users = copy_returning_ids(
            cur,
            "app_user (username, name, org_id, email)",
            [
                (f"bench-drafter-{k}", f"起草人{k}", org, f"bench-drafter-{k}@example.org")
                for k, org in enumerate(orgs)
            ],
        )
        copy_rows(
            cur, "role_grant (user_id, role, granted_at)", [(u, "drafter", now) for u in users]
        )
        year = now.year + 1  # the timer at 1 December of the plan's year stays out of the way
        plan_ids = copy_returning_ids(
            cur,
            "plan (org_id, year, title, template_id, template_name, template_version, state,"
            " state_entered_at, version, created_by, created_at, updated_at)",
            [
                (
                    org,
                    year,
                    f"基准基层工会{k} {year}年工会工作计划",
                    template_id,
                    TEMPLATE,
                    workflow.template.version,
                    "executing",
                    now,
                    4,
                    users[k],
                    now,
                    now,
                )
                for k, org in enumerate(orgs)
            ],
        )
        item_rows = [
            (plan_id, n + 1, titles[(k + n) % len(titles)])
            for k, plan_id in enumerate(plan_ids)
            for n in range(items_per_plan)
        ]
        item_ids = copy_returning_ids(
            cur,
            "monthly_item (plan_id, position, month, title, detail)",
            [
                (plan_id, pos, item.month, item.title, item.detail)
                for plan_id, pos, item in item_rows
            ],
        )
        rows: list[tuple[Any, ...]] = []
        for (plan_id, _, _), item_id in zip(item_rows, item_ids, strict=True):
            for rule in RULES:
                n = len(rows)
                fire_at = (
                    now - DUE_WITHIN + DUE_WITHIN * n / max(due, 1) if n < due else now + NOT_YET
                )
                day = fire_at.astimezone(rt.default_timezone).date().isoformat()
                rows.append(
                    (
                        f"p{plan_id}:r{rule}:i{item_id}:{day}:drafter",
                        plan_id,
                        kinds[rule],
                        rule,
                        item_id,
                        "drafter",
                        fire_at,
                        "planned",
                        0,
                        now,
                    )
                )
        copy_rows(
            cur,
            "reminder (key, plan_id, kind, rule_index, item_id, recipient_role, fire_at, status,"
            " attempts, created_at)",
            rows,
        )
        cur.execute("ANALYZE")
    return Population(plans=plans, reminders=len(rows), due=min(due, len(rows)))


def count(rt: Runtime, query: str) -> int:
    with psycopg.connect(libpq_url(rt.settings.database_url)) as connection:
        return one(connection.execute(query))


def wait_for(
    done: Callable[[], bool], what: str, *, between: Callable[[], None] | None = None
) -> None:
    """Poll `done` (running `between` in each pause) until it holds; exit if it never does."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            sys.exit(f"stuck: still not {what} after {TIMEOUT_SECONDS:.0f} s")
        if between is not None:
            between()
        time.sleep(POLL_SECONDS)


class ReceiverProcess:
    """The counting webhook (tests/workers/webhook_receiver.py) as a process of its own, so that
    serving 100,000 posts does not compete with this process's sweeps for one interpreter."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.workers.webhook_receiver"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url:
            sys.exit("the webhook receiver did not start")
        parts = urlsplit(self.url)
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port)

    def stats(self) -> dict[str, Any]:
        self._connection.request("GET", "/stats")
        answer: dict[str, Any] = json.loads(self._connection.getresponse().read())
        return answer

    def stop(self) -> None:
        self._connection.close()
        self._process.terminate()
        self._process.wait()


# --- 1: end to end ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EndToEnd:
    population: Population
    seconds: float
    first_cycle: float  # the first run_cycle: sweep everything, then publish every batch
    first_post: float  # seconds from the start to the receiver's first post
    posts: int
    distinct: int
    batches: int

    @property
    def rate(self) -> float:
        return self.population.due / self.seconds

    @property
    def delivery_rate(self) -> float:
        """Reminders/s from the first post on: the workers' own pace."""
        return self.population.due / (self.seconds - self.first_post)


def bench_end_to_end(rt: Runtime, population: Population, receiver: ReceiverProcess) -> EndToEnd:
    settings = rt.settings
    publish = celery_publisher(create_app(settings))
    sent_query = "SELECT count(*) FROM delivery WHERE status = 'sent'"
    last_cycle = 0.0

    def cycle_when_due() -> None:
        # What the scheduler does meanwhile: requeue stale deliveries, settle, publish.
        nonlocal last_cycle
        if time.monotonic() - last_cycle >= settings.sweep_interval_seconds:
            run_cycle(rt, publish)
            last_cycle = time.monotonic()

    started = time.monotonic()  # one clock with the receiver's stamps (Linux: system-wide)
    report = run_cycle(rt, publish)
    last_cycle = time.monotonic()
    first_cycle = last_cycle - started
    wait_for(
        lambda: (
            receiver.stats()["distinct"] >= population.due
            and count(rt, sent_query) >= population.due
        ),
        "all delivered",
        between=cycle_when_due,
    )
    seconds = time.monotonic() - started
    stats = receiver.stats()
    return EndToEnd(
        population=population,
        seconds=seconds,
        first_cycle=first_cycle,
        first_post=stats["first_at"] - started,
        posts=stats["posts"],
        distinct=stats["distinct"],
        batches=report.published,
    )


# --- 2: trivial tasks ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trivial:
    tasks: int
    publish_seconds: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


def bench_trivial_tasks(settings: Settings, tasks: int) -> Trivial:
    publish = celery_publisher(create_app(settings))
    client = redis.Redis.from_url(settings.broker_url or "")
    queue = settings.celery_queue

    def drained() -> bool:
        # With late acknowledgement a message leaves the unacknowledged set only once its task
        # has returned. Asked twice, so that a message between the two structures (popped from
        # the queue, not yet recorded as delivered) is not taken for the end.
        return all(client.llen(queue) == 0 and client.hlen(UNACKED_KEY) == 0 for _ in range(2))

    started = time.monotonic()
    for _ in range(tasks):
        publish([])
    published = time.monotonic() - started
    wait_for(drained, "all trivial tasks run")
    seconds = time.monotonic() - started
    client.close()
    return Trivial(tasks=tasks, publish_seconds=published, seconds=seconds)


# --- 3: scheduler memory ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Memory:
    planned: int
    due: int
    seconds: float  # from the scheduler's start until every due reminder is queued and published
    peak_mib: float
    resident_mib: float


def proc_status_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process `pid`, in MiB (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def bench_scheduler_memory(
    admin_url: str, planned: int, plans: int, redis_server: RedisServer, folder: Path, url: str
) -> Memory:
    with postgres_database(admin_url) as database_url:
        rt = prepare(Settings(database_url=database_url))
        population = populate(rt, plans=plans, reminders=planned, due=planned // 2)
        env = {
            "PLANFLOW_DATABASE_URL": database_url,
            "PLANFLOW_BROKER_URL": redis_server.url,
            "PLANFLOW_SWEEP_INTERVAL_SECONDS": "1",
            **channel_env(url),
        }
        scheduler = SchedulerProcess(folder, name=f"memory-{planned}", env=env)
        started = time.monotonic()
        scheduler.start()
        try:
            wait_for(
                lambda: (
                    count(rt, "SELECT count(*) FROM reminder WHERE status = 'queued'")
                    == population.due
                    and count(rt, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
                ),
                "every due reminder swept and published",
            )
            seconds = time.monotonic() - started
            assert scheduler.pid is not None
            resident, peak = proc_status_mib(scheduler.pid)
        finally:
            scheduler.stop()
            rt.database.dispose()
    # No worker takes these batches: drop them with the rest of this run's messages.
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return Memory(population.reminders, population.due, seconds, peak, resident)


# --- where the time goes (--profile) -------------------------------------------------------------


def profile(admin_url: str, reminders: int, receiver: ReceiverProcess) -> list[str]:
    """The sweep and `deliver` of `reminders` due reminders in this process, under cProfile:
    rates, and what share of a delivery the channel and the database take."""
    lines = []
    with postgres_database(admin_url) as database_url:
        settings = Settings(
            database_url=database_url, default_channels=["webhook"], webhook_url=receiver.url
        )
        rt = prepare(settings)
        populate(rt, plans=max(1, reminders // 10), reminders=reminders, due=reminders)
        sweep = cProfile.Profile()
        started = time.perf_counter()
        sweep.runcall(sweep_reminders, rt)
        seconds = time.perf_counter() - started
        lines.append(f"sweep    {reminders / seconds:6.0f} reminders/s in one process")
        lines += _top(sweep, 8)
        ids = [row.id for row in _rows(rt, "SELECT id FROM delivery ORDER BY id")]
        send = ChannelSender(settings)
        batch = settings.delivery_batch_size
        work = cProfile.Profile()
        started = time.perf_counter()
        for start in range(0, len(ids), batch):
            work.runcall(deliver, rt, ids[start : start + batch], send)
        seconds = time.perf_counter() - started
        per = seconds / len(ids) * 1000
        stats = pstats.Stats(work)
        channel = _cumulative(stats, "sending.py", "__call__") / len(ids) * 1000
        database = _cumulative(stats, "session.py", "commit") / len(ids) * 1000
        lines.append(
            f"deliver  {len(ids) / seconds:6.0f} deliveries/s in one process: {per:.2f} ms each, "
            f"of which the webhook post {channel:.2f} ms, transaction commits {database:.2f} ms"
        )
        lines += _top(work, 8)
        rt.database.dispose()
    return lines


def _rows(rt: Runtime, query: str) -> list[Any]:
    with rt.database.engine.connect() as connection:
        return list(connection.exec_driver_sql(query))


def _cumulative(stats: pstats.Stats, file: str, function: str) -> float:
    """Seconds spent in (and under) `function` of a file named `file`."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    seconds: float = sum(
        entry[3]
        for (path, _, name), entry in table.items()
        if path.endswith(file) and name == function
    )
    return seconds


def _top(profiler: cProfile.Profile, n: int) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(n)
    table = out.getvalue().splitlines()
    first = next(i for i, line in enumerate(table) if line.lstrip().startswith("ncalls"))
    return ["    " + line for line in table[first : first + n + 1]]


# --- the command --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Reminders/s end to end against trivial Celery tasks/s, and scheduler memory."
    )
    parser.add_argument("--plans", type=int, default=10_000, help="live plans (10000)")
    parser.add_argument("--reminders", type=int, default=100_000, help="due reminders (100000)")
    parser.add_argument("--tasks", type=int, default=100_000, help="trivial tasks (100000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument(
        "--memory",
        default="10000,100000",
        help="planned reminders for the scheduler's memory, comma-separated (10000,100000)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="R",
        help="also profile the sweep and deliver of R reminders in this process",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="an admin URL")
    args = parser.parse_args(argv)
    failing = 1 if os.environ.get("CI") == "true" else 0
    why = postgres_unreachable(args.postgres_url)
    if why is not None:
        print(f"PostgreSQL is not reachable at {args.postgres_url}: {why}")
        return failing
    if shutil.which("redis-server") is None:
        print("redis-server is not on PATH (apt-get install redis-server)")
        return failing
    memory_sizes = [int(size) for size in args.memory.split(",") if size]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as name:
        folder = Path(name)
        redis_server = RedisServer(folder / "redis")
        redis_server.start()
        receiver = ReceiverProcess()
        try:
            end_to_end, trivial = bench_throughput(args, folder, redis_server, receiver)
            print(f"Scheduler memory: {', '.join(map(str, memory_sizes))} planned reminders")
            memory = [
                bench_scheduler_memory(
                    args.postgres_url,
                    size,
                    max(1, args.plans * size // args.reminders),
                    redis_server,
                    folder,
                    receiver.url,
                )
                for size in memory_sizes
            ]
            profiled = profile(args.postgres_url, args.profile, receiver) if args.profile else []
        finally:
            receiver.stop()
            redis_server.stop()
    report(end_to_end, trivial, memory, args.workers)
    for line in profiled:
        print(line)
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0


def bench_throughput(
    args: argparse.Namespace, folder: Path, redis_server: RedisServer, receiver: ReceiverProcess
) -> tuple[EndToEnd, Trivial]:
    """Parts 1 and 2, on one database, one Redis and one worker."""
    with postgres_database(args.postgres_url) as url:
        settings = Settings(
            database_url=url,
            broker_url=redis_server.url,
            default_channels=["webhook"],
            webhook_url=receiver.url,
        )
        rt = prepare(settings)
        print(f"End to end: {args.plans} live plans, {args.reminders} due reminders")
        loading = time.perf_counter()
        population = populate(rt, plans=args.plans, reminders=args.reminders, due=args.reminders)
        print(f"  written in {time.perf_counter() - loading:.1f}s (COPY)")
        worker = CeleryWorker(
            folder,
            database_url=url,
            broker_url=redis_server.url,
            concurrency=args.workers,
            env=channel_env(receiver.url),
        )
        worker.start()
        try:
            end_to_end = bench_end_to_end(rt, population, receiver)
            print(f"Trivial tasks: {args.tasks}, one per message, same Redis and worker")
            trivial = bench_trivial_tasks(settings, args.tasks)
        finally:
            worker.stop()
            rt.database.dispose()
    return end_to_end, trivial


def report(end_to_end: EndToEnd, trivial: Trivial, memory: list[Memory], workers: int) -> None:
    e, t = end_to_end, trivial
    ratio = e.rate / t.rate
    print()
    print(
        f"end to end   {e.population.due} reminders of {e.population.plans} plans, {workers} "
        f"worker processes: {e.seconds:.1f}s → {e.rate:.0f} reminders/s"
    )
    print(
        f"             first cycle (sweep, then publish {e.batches} batches) {e.first_cycle:.1f}s;"
        f" first post after {e.first_post:.1f}s, then {e.delivery_rate:.0f} reminders/s"
    )
    print(f"             receiver: {e.posts} posts, {e.distinct} distinct keys")
    print(
        f"trivial      {t.tasks} tasks: published in {t.publish_seconds:.1f}s "
        f"({t.tasks / t.publish_seconds:.0f}/s), all run after {t.seconds:.1f}s "
        f"→ {t.rate:.0f} tasks/s"
    )
    print(f"ratio        {ratio:.2f}  (goal ≥ {GOAL}: {'yes' if ratio >= GOAL else 'no'})")
    if e.posts != e.population.due or e.distinct != e.population.due:
        print("WARNING: the receiver did not count each reminder exactly once")
    print("scheduler memory (fresh `planflow scheduler`; VmHWM once every due one is published):")
    for m in memory:
        print(
            f"  {m.planned:>7} planned ({m.due} due): peak {m.peak_mib:4.0f} MiB, "
            f"resident {m.resident_mib:4.0f} MiB; swept and published in {m.seconds:.1f}s"
        )


if __name__ == "__main__":
    sys.exit(main())
