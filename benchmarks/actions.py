"""How fast the engine acts on plans, against a hand-written SQL floor, and what memory it keeps.

    python benchmarks/actions.py [--plans N] [--memory-plans M]
                                 [--postgres-url URL | --no-postgres]
                                 [--peer spiff [--peer-script PATH] [--peer-instances K]]

1. Engine actions/s, on SQLite (a temp file) and on PostgreSQL (a fresh temp database, dropped at
   the end): the bundled templates, the demo world plus enough extra grassroots unions (each with
   a drafter) to give every plan its own (organisation, year), and N plans made with
   `create_plan` from the demo's four grassroots plan files. Timed: driving each plan from draft
   to executing through `act`: submit (drafter), approve (township reviewer), approve, approve
   (the two county approvers; the second completes the countersign and stores the monthly items'
   reminders), on a `SimulatedClock`.
2. The floor, same run, same database: N more plans made the same way are driven through the
   same actions by `RawActions` (`floor.py`), the engine's reads and writes written by hand for
   the raw driver (`sqlite3` / `psycopg`), one transaction per action. It decides with the same
   pure core (the compiled workflow's `permit` and `fire`, scope, calendar, reminder planning), so
   engine/raw is what the ORM, the store and the service layer cost. The two sets must end with
   the same rows, or the run stops. Steps alternate, engine then raw, so both see tables of about
   the same size. The engine is measured only through the service (`create_plan`, `act`,
   `list_plans`, `show_plan`): this script writes no SQL of its own but the memory part's bulk
   insert, which only fills the database that part reads.
3. Memory: M plans bulk-inserted into a SQLite file, then, in a fresh process with one runtime,
   every plan listed with `list_plans` a year (a page of M/100) at a time and every 50th read in
   full with `show_plan`; resident memory after M/10 and after M plans.

4. With `--peer spiff`, right after the SQLite actions: SpiffWorkflow's measurement of the same
   kind of work (`../shared/peers/spiff/run.sh K`: every human action of an approval path
   persisted in its own SQLite transaction, the workflow reloaded before each one as a web
   request does), run as a subprocess; its `reload` variant's actions/s against the engine's
   SQLite figure above (every action persisted in one transaction with its audit row, tasks and
   reminder rows), and the ratio (goal ≥ 2).

Exit status 0, except 1 under CI=true when PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import sqlalchemy as sa
from floor import RawActions, differing_rows, libpq_url, raw_connection  # benchmarks/floor.py

from config.settings import Settings
from engine.core.calendar import WorkCalendar
from engine.core.clock import SimulatedClock
from engine.core.planfile import parse_plan_file
from engine.demo import plan_files
from engine.demo.world import (
    COUNTY_APPROVERS,
    DRAFTER,
    GRASSROOTS,
    REVIEWER,
    TOWNSHIPS,
    build_world,
)
from engine.service import directory
from engine.service.actions import act
from engine.service.audit import verify_audit
from engine.service.plan_views import list_plans, show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime, open_runtime
from engine.service.templates import load_bundled_templates
from engine.store.migrate import upgrade

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FIRST_YEAR = 2027
YEARS = 10  # each organisation gets one plan a year, FIRST_YEAR onwards
GOAL = 0.5  # engine actions/s at least half of the floor's
WARMUP = 8  # plans per set driven untimed first (caches, compiled statements, holiday tables)
MEMORY_YEARS = 100  # the memory plans span 100 years: a year's listing is a page of M/100
SHOW_EVERY = 50  # every 50th listed plan is also read with show_plan
READER = COUNTY_APPROVERS[0]  # county scope: sees every plan
PEER_GOAL = 2.0  # engine actions/s on SQLite at least twice the peer's
PEER_VARIANT = "reload"  # the peer's stateless-request variant: what a web action does
REPO = Path(__file__).resolve().parent.parent
# The shared peers folder sits beside the checkout (../shared), or beside its parent when the
# checkout is a worktree one level further down.
PEER_SCRIPTS = {"spiff": ("shared/peers/spiff/run.sh",)}

Actor = Callable[["BenchPlan"], str]


# --- the world and the plans --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BenchPlan:
    plan_id: int
    drafter: str
    reviewer: str


# The four timed actions: (trigger, who acts).
STEPS: tuple[tuple[str, Actor], ...] = (
    ("submit", lambda p: p.drafter),
    ("approve", lambda p: p.reviewer),
    ("approve", lambda p: COUNTY_APPROVERS[0]),
    ("approve", lambda p: COUNTY_APPROVERS[1]),
)


def make_runtime(url: str, clock: SimulatedClock) -> Runtime:
    return open_runtime(Settings(database_url=url), clock=clock)


def build_plans(rt: Runtime, per_set: int, sets: int) -> list[list[BenchPlan]]:
    """The world and `sets` lists of `per_set` draft plans, made with `create_plan`.

    Plan g (counting across sets) belongs to organisation g % orgs in year FIRST_YEAR + g // orgs;
    the k-th plan of every set has the content of the same demo plan, so the sets are alike.
    """
    load_bundled_templates(rt)
    build_world(rt)
    specs = [spec for spec in map(parse_plan_file, plan_files()) if spec.org in GRASSROOTS]
    orgs = [(code, DRAFTER[code], REVIEWER[parent]) for code, (_, parent) in GRASSROOTS.items()]
    townships = list(TOWNSHIPS)
    for n in range(len(orgs), math.ceil(per_set * sets / YEARS)):
        code, drafter, parent = f"bench-union-{n}", f"bench-drafter-{n}", townships[n % 2]
        directory.create_org(rt, code=code, name=f"基准测试基层工会{n}", parent=parent)
        directory.create_user(rt, username=drafter, name=f"起草人{n}", org=code, roles=["drafter"])
        orgs.append((code, drafter, REVIEWER[parent]))
    result = []
    for s in range(sets):
        plans = []
        for k in range(per_set):
            g = s * per_set + k
            code, drafter, reviewer = orgs[g % len(orgs)]
            year = FIRST_YEAR + g // len(orgs)
            title = f"{code} {year}年工会工作计划"
            spec = dataclasses.replace(specs[k % len(specs)], org=code, year=year, title=title)
            created = create_plan(rt, spec=spec, actor=drafter)
            plans.append(BenchPlan(created.plan_id, drafter, reviewer))
        result.append(plans)
    return result


# --- 1 and 2: actions per second ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActionFigures:
    database: str
    engine_rate: float  # actions/s over the four steps
    raw_rate: float
    engine_steps: list[float]  # actions/s per step
    raw_steps: list[float]
    engine_statements: list[float]  # statements per action, per step (BEGIN/COMMIT aside)
    raw_statements: list[float]

    @property
    def ratio(self) -> float:
        return self.engine_rate / self.raw_rate


@contextmanager
def counting_statements(engine: sa.Engine) -> Iterator[list[int]]:
    """Count the statements the engine sends (BEGIN aside) while inside; [count]."""
    count = [0]

    def seen(*args: Any) -> None:
        if not args[2].startswith("BEGIN"):
            count[0] += 1

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield count
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


def bench_actions(label: str, url: str, n: int) -> ActionFigures:
    clock = SimulatedClock(START)
    rt = make_runtime(url, clock)
    upgrade(rt.database)
    started = time.perf_counter()
    engine_plans, raw_plans = build_plans(rt, n + WARMUP, sets=2)
    made = time.perf_counter() - started
    print(f"  {label}: the world and {2 * (n + WARMUP)} plans made in {made:.0f}s")
    connection, is_sqlite = raw_connection(url)
    raw = RawActions(connection, sqlite=is_sqlite, calendar=WorkCalendar(), tz=rt.default_timezone)

    def engine_step(plans: list[BenchPlan], trigger: str, actor: Actor) -> None:
        for plan in plans:
            act(rt, plan_id=plan.plan_id, trigger=trigger, actor=actor(plan))

    def raw_step(plans: list[BenchPlan], trigger: str, actor: Actor) -> None:
        for plan in plans:
            raw.act(plan.plan_id, trigger, actor(plan), clock())

    engine_statements: list[float] = []
    raw_statements: list[float] = []
    engine_times: list[float] = []
    raw_times: list[float] = []
    try:
        for trigger, actor in STEPS:  # untimed, and counting statements
            with counting_statements(rt.database.engine) as count:
                engine_step(engine_plans[:WARMUP], trigger, actor)
            engine_statements.append(count[0] / WARMUP)
            raw.statements = 0
            raw_step(raw_plans[:WARMUP], trigger, actor)
            raw_statements.append(raw.statements / WARMUP)
        for trigger, actor in STEPS:
            clock.advance(dt.timedelta(hours=1))
            for step, plans, times in (
                (engine_step, engine_plans, engine_times),
                (raw_step, raw_plans, raw_times),
            ):
                gc.collect()
                t0 = time.perf_counter()
                step(plans[WARMUP:], trigger, actor)
                times.append(time.perf_counter() - t0)
    finally:
        connection.close()
    check_same_rows(rt, engine_plans, raw_plans)
    rt.database.dispose()
    return ActionFigures(
        database=label,
        engine_rate=n * len(STEPS) / sum(engine_times),
        raw_rate=n * len(STEPS) / sum(raw_times),
        engine_steps=[n / t for t in engine_times],
        raw_steps=[n / t for t in raw_times],
        engine_statements=engine_statements,
        raw_statements=raw_statements,
    )


def check_same_rows(rt: Runtime, engine_plans: list[BenchPlan], raw_plans: list[BenchPlan]) -> None:
    """A floor only counts if it wrote what the engine wrote: compare the two sets' rows, and
    the audit chains must verify."""
    different = differing_rows(
        rt.settings.database_url,
        [plan.plan_id for plan in engine_plans],
        [plan.plan_id for plan in raw_plans],
    )
    if different is not None:
        sys.exit(different)
    audit = verify_audit(rt)
    if not audit.ok:
        sys.exit(f"the audit chains do not hold: {audit.breaks[:3]} {audit.missing_guards}")


def postgres_unreachable(admin_url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        with psycopg.connect(libpq_url(admin_url), connect_timeout=5):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a fresh database on the server, dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"planflow_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# --- 3: memory ----------------------------------------------------------------------------------


def memory_mib() -> tuple[float, float]:
    """(resident now, peak resident) of this process, in MiB.

    Linux: VmRSS and VmHWM, which belong to this program; `ru_maxrss` would also count the parent
    it was forked from before `exec`. Elsewhere both are `ru_maxrss`.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024
        return peak_mib, peak_mib


def bulk_insert_plans(url: str, count: int) -> None:
    """`count` draft plans (a section, two goals, three items each) written straight in.

    Plan i belongs to organisation i % orgs in year FIRST_YEAR + i // orgs, over MEMORY_YEARS.
    """
    connection, _ = raw_connection(url)
    cur = connection.cursor()
    cur.execute("BEGIN IMMEDIATE")
    cur.execute("SELECT id FROM workflow_template WHERE name = 'annual-work-plan'")
    template_id = cur.fetchone()[0]
    cur.execute("SELECT id FROM app_user WHERE username = ?", (DRAFTER["zishan-middle-school"],))
    creator = cur.fetchone()[0]
    cur.execute("SELECT id FROM organisation WHERE code IN ('zishan-town', 'songshan-town')")
    townships = [r[0] for r in cur.fetchall()]
    orgs = math.ceil(count / MEMORY_YEARS)
    cur.executemany(
        "INSERT INTO organisation (code, name, parent_id) VALUES (?, ?, ?)",
        [(f"memory-union-{k}", f"基层工会{k}", townships[k % 2]) for k in range(orgs)],
    )
    cur.execute("SELECT id FROM organisation WHERE code LIKE 'memory-union-%' ORDER BY id")
    org_ids = [r[0] for r in cur.fetchall()]
    times = [START.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")] * 3
    cur.executemany(
        "INSERT INTO plan (org_id, year, title, template_id, template_name, template_version,"
        " state, state_entered_at, created_at, updated_at, version, created_by)"
        " VALUES (?, ?, ?, ?, 'annual-work-plan', 1, 'draft', ?, ?, ?, 1, ?)",
        [
            (org_ids[i % orgs], FIRST_YEAR + i // orgs, f"计划{i}", template_id, *times, creator)
            for i in range(count)
        ],
    )
    cur.execute("SELECT id FROM plan")
    ids = [r[0] for r in cur.fetchall()]
    cur.executemany(
        "INSERT INTO plan_section (plan_id, position, heading, body) VALUES (?, 1, ?, ?)",
        [(p, "指导思想", "以职工为中心，扎实推进各项工作。") for p in ids],
    )
    cur.executemany(
        "INSERT INTO goal (plan_id, position, key, title, target, unit, comparator)"
        " VALUES (?, ?, ?, ?, ?, '人', '>=')",
        [(p, g, f"goal-{g}", f"目标{g}", 100.0 * g) for p in ids for g in (1, 2)],
    )
    cur.executemany(
        "INSERT INTO monthly_item (plan_id, position, month, title, detail)"
        " VALUES (?, ?, ?, ?, '')",
        [(p, m, m, f"{m}月活动") for p in ids for m in (1, 2, 3)],
    )
    connection.commit()
    connection.close()


def read_every_plan(url: str, count: int, queue: Any) -> None:
    """In a fresh process, one runtime: list every plan a year at a time, show a sample."""
    rt = make_runtime(url, SimulatedClock(START))
    now, peak = memory_mib()
    lines = [f"before reading          : RSS {now:4.0f} MiB, peak {peak:4.0f} MiB"]
    listed = shown = 0
    mark = max(1, count // 10)
    started = time.perf_counter()
    year = FIRST_YEAR
    while listed < count:
        page = list_plans(rt, actor=READER, year=year, limit=count)
        for plan, _ in page[::SHOW_EVERY]:
            assert plan.id is not None
            assert len(show_plan(rt, plan_id=plan.id, actor=READER).items) == 3
            shown += 1
        listed += len(page)
        del page
        year += 1
        if listed >= mark:
            now, peak = memory_mib()
            what = f"{listed} plans ({'M/10' if mark < count else 'M'})"
            lines.append(
                f"after {what:<18}: RSS {now:4.0f} MiB, peak {peak:4.0f} MiB"
                f"  ({shown} shown; {time.perf_counter() - started:.0f}s)"
            )
            mark = count
    rt.database.dispose()
    queue.put(lines)


def bench_memory(count: int, folder: Path) -> list[str]:
    url = f"sqlite:///{folder / 'memory.db'}"
    rt = make_runtime(url, SimulatedClock(START))
    upgrade(rt.database)
    load_bundled_templates(rt)
    build_world(rt)
    rt.database.dispose()
    started = time.perf_counter()
    bulk_insert_plans(url, count)
    print(f"  {count} plans bulk-inserted in {time.perf_counter() - started:.0f}s")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=read_every_plan, args=(url, count, queue))
    child.start()
    lines: list[str] = queue.get()
    child.join()
    return lines


# --- 4: the peer -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PeerFigures:
    name: str
    version: str
    instances: int
    actions: int
    rate: float  # actions/s of the peer's `reload` variant
    other_variants: dict[str, float]  # the rest of its variants' actions/s, for the record
    engine_rate: float  # the engine's SQLite actions/s of the same run

    @property
    def ratio(self) -> float:
        return self.engine_rate / self.rate


def peer_script(name: str, given: str | None) -> Path:
    """The peer's run script: the given path, or the first of the usual places that has it."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            sys.exit(f"--peer-script {given}: no such file")
        return path
    tried = [base / relative for relative in PEER_SCRIPTS[name] for base in REPO.parents[:2]]
    for path in tried:
        if path.is_file():
            return path
    sys.exit(f"--peer {name}: no run script at {', '.join(map(str, tried))}; give --peer-script")


def bench_peer(name: str, script: Path, instances: int, engine_rate: float) -> PeerFigures:
    """Run the peer's measurement as a subprocess; its JSON lines, one per variant."""
    done = subprocess.run(
        [str(script), str(instances)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{script} {instances} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    variants = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            variants[record["variant"]] = record
    if PEER_VARIANT not in variants:
        sys.exit(f"{script} printed no {PEER_VARIANT!r} variant:\n{done.stdout[-2000:]}")
    chosen = variants[PEER_VARIANT]
    return PeerFigures(
        name=name,
        version=str(chosen.get("spiffworkflow", "?")),
        instances=chosen["instances"],
        actions=chosen["actions"],
        rate=chosen["actions_per_s"],
        other_variants={v: r["actions_per_s"] for v, r in variants.items() if v != PEER_VARIANT},
        engine_rate=engine_rate,
    )


# --- the command --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Engine actions/s against a raw-SQL floor, and memory per plan."
    )
    parser.add_argument("--plans", type=int, default=2000, help="plans per set (2000)")
    parser.add_argument("--memory-plans", type=int, default=100_000, help="plans stored (100000)")
    databases = parser.add_mutually_exclusive_group()
    databases.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="an admin URL")
    databases.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--peer", choices=sorted(PEER_SCRIPTS), help="also measure a peer engine (SQLite)"
    )
    parser.add_argument("--peer-script", help="the peer's run script (default: ../shared/peers/…)")
    parser.add_argument(
        "--peer-instances", type=int, help="instances the peer runs (default: --plans)"
    )
    args = parser.parse_args(argv)
    if args.peer is None and (args.peer_script or args.peer_instances):
        parser.error("--peer-script and --peer-instances need --peer")
    script = peer_script(args.peer, args.peer_script) if args.peer else None
    peer: PeerFigures | None = None
    status = 0
    started = time.perf_counter()
    figures: list[ActionFigures] = []
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as folder:
        print(f"Actions: {args.plans} plans per set, draft → executing (4 actions each)")
        figures.append(bench_actions("SQLite", f"sqlite:///{folder}/actions.db", args.plans))
        if script is not None:
            instances = args.peer_instances or args.plans
            print(f"Peer: {args.peer}, {instances} instances ({script})")
            peer = bench_peer(args.peer, script, instances, figures[0].engine_rate)
        if not args.no_postgres:
            why = postgres_unreachable(args.postgres_url)
            if why is None:
                with postgres_database(args.postgres_url) as url:
                    figures.append(bench_actions("PostgreSQL", url, args.plans))
            else:
                print(f"  PostgreSQL is not reachable at {args.postgres_url}: {why}")
                print("  so only SQLite is measured")
                status = 1 if os.environ.get("CI") == "true" else 0
        print(f"Memory: {args.memory_plans} plans, listed and every {SHOW_EVERY}th shown")
        memory = bench_memory(args.memory_plans, Path(folder))
    print()
    print(f"{'database':<11} {'engine act/s':>12} {'raw act/s':>10} {'ratio':>6}  goal ≥ {GOAL}")
    for f in figures:
        met = "yes" if f.ratio >= GOAL else "no"
        print(f"{f.database:<11} {f.engine_rate:>12.0f} {f.raw_rate:>10.0f} {f.ratio:>6.2f}  {met}")
    print("per step (submit, approve, approve, approve), engine/raw:")
    for f in figures:
        rates = zip(f.engine_steps, f.raw_steps, strict=True)
        counts = zip(f.engine_statements, f.raw_statements, strict=True)
        print(f"  {f.database:<11} act/s       " + "  ".join(f"{e:.0f}/{r:.0f}" for e, r in rates))
        print(f"  {'':<11} statements  " + "  ".join(f"{e:g}/{r:g}" for e, r in counts))
    if peer is not None:
        met = "yes" if peer.ratio >= PEER_GOAL else "no"
        others = ", ".join(f"{v} {r:.0f}" for v, r in peer.other_variants.items())
        print(
            f"peer (SQLite, every action persisted): {peer.name} {peer.version} "
            f"{PEER_VARIANT} {peer.rate:.0f} act/s ({peer.actions} actions; {others}); "
            f"engine {peer.engine_rate:.0f} act/s; ratio {peer.ratio:.2f}  "
            f"goal ≥ {PEER_GOAL:g}: {met}"
        )
    print("memory (reading process, SQLite):")
    for line in memory:
        print(f"  {line}")
    print(f"total {time.perf_counter() - started:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
