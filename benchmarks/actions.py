"""How fast the engine acts on plans, against a hand-written SQL floor, and what memory it keeps.

    python benchmarks/actions.py [--plans N] [--memory-plans M]
                                 [--postgres-url URL | --no-postgres]

1. Engine actions/s, on SQLite (a temp file) and on PostgreSQL (a fresh temp database, dropped at
   the end): the bundled templates, the demo world plus enough extra grassroots unions (each with
   a drafter) to give every plan its own (organisation, year), and N plans made with
   `create_plan` from the demo's four grassroots plan files. Timed: driving each plan from draft
   to executing through `act`: submit (drafter), approve (township reviewer), approve, approve
   (the two county approvers; the second completes the countersign and stores the monthly items'
   reminders), on a `SimulatedClock`.
2. The floor, same run, same database: N more plans made the same way are driven through the
   same actions by `RawActions`, the engine's reads and writes written by hand for the raw driver
   (`sqlite3` / `psycopg`), one transaction per action. It decides with the same pure core (the
   compiled workflow's `permit` and `fire`, scope, calendar, reminder planning), so engine/raw is
   what the ORM and the service layer cost. The two sets must end with the same rows, or the run
   stops. Steps alternate, engine then raw, so both see tables of about the same size.
3. Memory: M plans bulk-inserted into a SQLite file, then, in a fresh process with one runtime,
   every plan listed with `list_plans` a year (a page of M/100) at a time and every 50th read in
   full with `show_plan`; resident memory after M/10 and after M plans.

Exit status 0, except 1 under CI=true when PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import math
import multiprocessing
import os
import resource
import sqlite3
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

from config.settings import Settings
from engine.core.audit_chain import AuditContent, detail_json, row_hash
from engine.core.calendar import WorkCalendar
from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, NotFound, PermissionDenied
from engine.core.guards import PlanFacts
from engine.core.planfile import parse_plan_file
from engine.core.planning import (
    ItemSchedule,
    item_reminder_kind,
    plan_item_reminders,
    plan_task_reminders,
    task_due_at,
)
from engine.core.scope import candidate_orgs, covers
from engine.core.template.compile import Workflow
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode, Template
from engine.core.template.validate import load_template
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
from engine.service.runtime import Runtime
from engine.service.templates import load_bundled_templates
from engine.store.database import DEFAULT_LOCK_TIMEOUT_SECONDS, Database
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
    return Runtime(
        database=Database(url),
        settings=Settings(database_url=url),
        clock=clock,
        calendar=WorkCalendar(),
    )


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


# --- the floor ----------------------------------------------------------------------------------


class RawActions:
    """The engine's action written by hand for the raw driver: the floor of what it can cost.

    Per action, in one transaction (BEGIN IMMEDIATE on SQLite, the plan row FOR UPDATE on
    PostgreSQL): the plan row; the organisation path (one recursive query); the user and their
    grants (one join); in a state that has tasks, the open task; when it is countersigned, its
    signers and the signature; when the transition has guards, the goals and items (and whether
    anyone decided on the task); closing the task and cancelling its reminders; the next task's
    role holders (one query over the candidate organisations), the task, its signers and its
    reminders (nudges, overdue notice, escalation levels); on entering `items: live`, the items
    and the reminders already stored, then the new reminders (one executemany); the plan row
    (state, version); the audit row. Decisions use the same pure core as the engine. Only the
    compiled workflows are kept between actions, as the engine keeps them.
    """

    def __init__(
        self, connection: Any, *, sqlite: bool, calendar: WorkCalendar, tz: ZoneInfo
    ) -> None:
        self.connection = connection
        self.sqlite = sqlite
        self.calendar = calendar
        self.default_tz = tz
        self.statements = 0  # statements sent, BEGIN and COMMIT aside
        self.workflows: dict[int, Workflow] = {}
        with self.transaction() as cur:
            cur.execute("SELECT id, name, version, source FROM workflow_template")
            for template_id, name, version, source in cur.fetchall():
                template = load_template(source, source=f"{name}@v{version}")
                self.workflows[template_id] = Workflow(template)

    def sql(self, text: str) -> str:
        """`text` in the driver's parameter style; every call is one statement sent."""
        self.statements += 1
        return text if self.sqlite else text.replace("?", "%s")

    def stamp(self, moment: dt.datetime) -> Any:
        """A time as the engine stores it: naive UTC text on SQLite, timestamptz on PostgreSQL."""
        if self.sqlite:
            return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        cur = self.connection.cursor()
        if self.sqlite:
            cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit()
        finally:
            cur.close()

    def act(self, plan_id: int, trigger: str, username: str, now: dt.datetime) -> None:
        with self.transaction() as cur:
            self._act(cur, plan_id, trigger, username, now)

    def _act(self, cur: Any, plan_id: int, trigger: str, username: str, now: dt.datetime) -> None:
        sql, stamp = self.sql, self.stamp
        lock = "" if self.sqlite else " FOR UPDATE"
        cur.execute(
            sql(f"SELECT org_id, year, state, version, template_id FROM plan WHERE id = ?{lock}"),
            (plan_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no plan #{plan_id}")
        org_id, year, state, version, template_id = row
        workflow = self.workflows[template_id]
        template = workflow.template
        cur.execute(
            sql(
                "WITH RECURSIVE up(id, parent_id, depth) AS ("
                " SELECT id, parent_id, 0 FROM organisation WHERE id = ?"
                " UNION ALL SELECT o.id, o.parent_id, up.depth + 1"
                " FROM organisation o JOIN up ON o.id = up.parent_id)"
                " SELECT id FROM up ORDER BY depth"
            ),
            (org_id,),
        )
        path = [r[0] for r in cur.fetchall()]
        cur.execute(
            sql(
                "SELECT u.id, u.org_id, g.role FROM app_user u"
                " LEFT JOIN role_grant g ON g.user_id = u.id WHERE u.username = ?"
            ),
            (username,),
        )
        grants = cur.fetchall()
        if not grants:
            raise NotFound(f"no user {username!r}")
        user_id, user_org = grants[0][0], grants[0][1]
        roles = {
            role
            for _, _, role in grants
            if role in template.roles and covers(template.roles[role].scope, user_org, path)
        }
        if not roles:
            raise NotFound(f"no plan #{plan_id}")
        transition = workflow.permit(state, trigger, actor_roles=roles, by_system=False)
        task = None
        if template.states[state].task is not None:
            cur.execute(
                sql("SELECT id, sign FROM task WHERE plan_id = ? AND status = 'open'"), (plan_id,)
            )
            task = cur.fetchone()
        if task is not None and task[1] != SignMode.ANY:
            cur.execute(
                sql(
                    "SELECT id, user_id, decision FROM task_signer WHERE task_id = ?"
                    " ORDER BY position"
                ),
                (task[0],),
            )
            signers = cur.fetchall()
            mine = next((s for s in signers if s[1] == user_id), None)
            if mine is None or mine[2] is not None:
                raise PermissionDenied(f"{username} may not sign task #{task[0]}")
            undecided = [s for s in signers if s[2] is None]
            if task[1] == SignMode.SEQUENCE and undecided[0][1] != user_id:
                raise ActionRefused(f"it is not {username}'s turn to sign")
            cur.execute(
                sql("UPDATE task_signer SET decision = ?, decided_at = ? WHERE id = ?"),
                (trigger, stamp(now), mine[0]),
            )
            if trigger == COUNTERSIGN_TRIGGER and len(undecided) > 1:
                signed = {"signed": len(signers) - len(undecided) + 1, "of": len(signers)}
                self._finish(cur, plan_id, version, now, user_id, trigger, state, None, signed)
                return
        facts = PlanFacts(item_count=0, goal_count=0)  # no guard, nothing reads them
        if transition.guards:
            facts = self._facts(cur, plan_id, task[0] if task else None)
        step = workflow.fire(state, trigger, facts)
        source_task = step.source.task
        if source_task is not None:
            cur.execute(
                sql(
                    "UPDATE task SET status = 'closed', closed_at = ?, closed_by = ?, outcome = ?"
                    " WHERE plan_id = ? AND status = 'open'"
                ),
                (stamp(now), user_id, trigger, plan_id),
            )
            if source_task.remind or source_task.due or source_task.escalate:
                cur.execute(
                    sql(
                        "UPDATE reminder SET status = 'cancelled' WHERE plan_id = ?"
                        " AND task_id IS NOT NULL AND status IN ('planned', 'failed')"
                    ),
                    (plan_id,),
                )
        if step.source.items_live:
            cur.execute(
                sql(
                    "UPDATE reminder SET status = 'cancelled' WHERE plan_id = ?"
                    " AND item_id IS NOT NULL AND status IN ('planned', 'failed')"
                ),
                (plan_id,),
            )
        tz = ZoneInfo(template.timezone) if template.timezone else self.default_tz
        spec = step.dest.task
        if spec is not None:
            candidates = list(candidate_orgs(template.roles[spec.role].scope, path))
            marks = ", ".join("?" * len(candidates))
            cur.execute(
                sql(
                    "SELECT g.user_id, u.org_id FROM role_grant g JOIN app_user u"
                    f" ON u.id = g.user_id WHERE g.role = ? AND u.org_id IN ({marks})"
                    " ORDER BY g.id"
                ),
                (spec.role, *candidates),
            )
            holders = cur.fetchall()
            task_org = next(c for c in candidates if any(h[1] == c for h in holders))
            due = task_due_at(opened_at=now, spec=spec, tz=tz, calendar=self.calendar)
            cur.execute(
                sql(
                    "INSERT INTO task (plan_id, state, role, org_id, sign, status, opened_at,"
                    " due_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id"
                ),
                (plan_id, step.dest.name, spec.role, task_org, spec.sign.value, stamp(now),
                 stamp(due) if due else None),
            )  # fmt: skip
            new_task = cur.fetchone()[0]
            if spec.sign != SignMode.ANY:
                signers = [h[0] for h in holders if h[1] == task_org]
                cur.executemany(
                    sql("INSERT INTO task_signer (task_id, user_id, position) VALUES (?, ?, ?)"),
                    [(new_task, signer, n) for n, signer in enumerate(signers)],
                )
            nudges = plan_task_reminders(
                plan_id=plan_id,
                task_id=new_task,
                opened_at=now,
                due_at=due,
                spec=spec,
                tz=tz,
                calendar=self.calendar,
            )
            if nudges:
                cur.executemany(
                    sql(
                        "INSERT INTO reminder (key, plan_id, kind, task_id, recipient_role,"
                        " fire_at, status, attempts, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, 'planned', 0, ?)"
                    ),
                    [
                        (r.key, plan_id, r.kind, new_task, r.role, stamp(r.fire_at), stamp(now))
                        for r in nudges
                    ],
                )
        if step.dest.items_live:
            self._plan_reminders(cur, template, plan_id, year, tz, now)
        self._finish(cur, plan_id, version, now, user_id, trigger, state, step.dest.name, None)

    def _facts(self, cur: Any, plan_id: int, task_id: int | None) -> PlanFacts:
        cur.execute(self.sql("SELECT title, actual FROM goal WHERE plan_id = ?"), (plan_id,))
        goals = cur.fetchall()
        cur.execute(
            self.sql(
                "SELECT month, title, status FROM monthly_item WHERE plan_id = ? ORDER BY position"
            ),
            (plan_id,),
        )
        items = cur.fetchall()
        touched = False
        if task_id is not None:
            cur.execute(
                self.sql(
                    "SELECT id FROM task_signer WHERE task_id = ? AND decision IS NOT NULL LIMIT 1"
                ),
                (task_id,),
            )
            touched = cur.fetchone() is not None
        return PlanFacts(
            item_count=len(items),
            goal_count=len(goals),
            unreported_goals=tuple(title for title, actual in goals if actual is None),
            unreported_items=tuple(f"{m}月 {t}" for m, t, status in items if status is None),
            current_task_touched=touched,
        )

    def _plan_reminders(
        self, cur: Any, template: Template, plan_id: int, year: int, tz: ZoneInfo, now: dt.datetime
    ) -> None:
        sql, stamp = self.sql, self.stamp
        cur.execute(
            sql("SELECT id, month, due_day, title FROM monthly_item WHERE plan_id = ?"), (plan_id,)
        )
        items = [ItemSchedule(item_id=i, month=m, due_day=d, title=t) for i, m, d, t in cur]
        cur.execute(
            sql("SELECT id, key, status, item_id FROM reminder WHERE plan_id = ?"), (plan_id,)
        )
        existing = {key: (rid, status) for rid, key, status, item in cur.fetchall() if item}
        planned = plan_item_reminders(
            plan_id=plan_id,
            year=year,
            rules=template.reminders,
            items=items,
            tz=tz,
            calendar=self.calendar,
        )
        rows, revived = [], []
        for r in planned:
            if r.fire_at <= now:
                continue
            if r.key in existing:
                if existing[r.key][1] == "cancelled":
                    revived.append((existing[r.key][0],))
                continue
            kind, fire_at = item_reminder_kind(template.reminders[r.rule_index]), stamp(r.fire_at)
            rows.append(
                (r.key, plan_id, kind, r.rule_index, r.item_id, r.role, fire_at, stamp(now))
            )
        if rows:
            cur.executemany(
                sql(
                    "INSERT INTO reminder (key, plan_id, kind, rule_index, item_id, recipient_role,"
                    " fire_at, status, attempts, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', 0, ?)"
                ),
                rows,
            )
        if revived:
            cur.executemany(sql("UPDATE reminder SET status = 'planned' WHERE id = ?"), revived)

    def _finish(
        self,
        cur: Any,
        plan_id: int,
        version: int,
        now: dt.datetime,
        user_id: int,
        action: str,
        from_state: str,
        entered: str | None,
        detail: dict[str, int] | None,
    ) -> None:
        """What every write ends with: the plan row (a state `entered`, version), the audit row."""
        sql, stamp = self.sql, self.stamp
        if entered is not None:
            cur.execute(
                sql(
                    "UPDATE plan SET state = ?, state_entered_at = ?, version = ?, updated_at = ?"
                    " WHERE id = ?"
                ),
                (entered, stamp(now), version + 1, stamp(now), plan_id),
            )
        else:
            cur.execute(
                sql("UPDATE plan SET version = ?, updated_at = ? WHERE id = ?"),
                (version + 1, stamp(now), plan_id),
            )
        audit = AuditContent(
            plan_id=plan_id,
            plan_version=version + 1,
            actor_id=user_id,
            at=now,
            action=action,
            from_state=from_state,
            to_state=entered or from_state,
            comment=None,
            idempotency_key=None,
            request_hash=None,
            detail=detail_json(detail),
        )
        # The hash chain, as the engine keeps it: the plan's last row's hash, under the lock.
        cur.execute(
            sql("SELECT row_hash FROM audit_event WHERE plan_id = ? ORDER BY id DESC LIMIT 1"),
            (plan_id,),
        )
        last = cur.fetchone()
        prev_hash = last[0] if last else None
        cur.execute(
            sql(
                "INSERT INTO audit_event (plan_id, at, actor_id, action, from_state, to_state,"
                " plan_version, detail, prev_hash, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (plan_id, stamp(now), user_id, action, from_state, audit.to_state, audit.plan_version,
             audit.detail, prev_hash, row_hash(audit, prev_hash)),
        )  # fmt: skip


def raw_connection(url: str) -> tuple[Any, bool]:
    """A driver connection set up as the engine sets up its own; True when SQLite."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "", isolation_level=None)
        for pragma in (
            f"busy_timeout = {round(DEFAULT_LOCK_TIMEOUT_SECONDS * 1000)}",
            "foreign_keys = ON",
            "journal_mode = WAL",
            "synchronous = NORMAL",
        ):
            connection.execute(f"PRAGMA {pragma}")
        return connection, True
    return psycopg.connect(libpq_url(url)), False


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver name, as psycopg takes it."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


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
    """A floor only counts if it wrote what the engine wrote: compare the two sets' rows."""
    queries = {
        "plans": "SELECT state, version, count(*) FROM plan WHERE id IN ({ids}) GROUP BY 1, 2",
        "tasks": "SELECT state, role, sign, status, outcome, count(*), count(due_at),"
        " count(closed_by) FROM task WHERE plan_id IN ({ids}) GROUP BY 1, 2, 3, 4, 5",
        "signers": "SELECT s.position, s.decision, count(*), count(s.decided_at)"
        " FROM task_signer s JOIN task t ON t.id = s.task_id"
        " WHERE t.plan_id IN ({ids}) GROUP BY 1, 2",
        "reminders": "SELECT kind, rule_index, recipient_role, status, attempts, count(*)"
        " FROM reminder WHERE plan_id IN ({ids}) GROUP BY 1, 2, 3, 4, 5",
        "audit rows": "SELECT action, from_state, to_state, plan_version, detail, count(*)"
        " FROM audit_event WHERE plan_id IN ({ids}) GROUP BY 1, 2, 3, 4, 5",
    }
    with rt.database.engine.connect() as connection:
        for name, query in queries.items():
            found = []
            for plans in (engine_plans, raw_plans):
                ids = ", ".join(str(p.plan_id) for p in plans)
                rows = connection.exec_driver_sql(query.format(ids=ids)).all()
                found.append(sorted(tuple(map(str, row)) for row in rows))
            if found[0] != found[1]:
                sys.exit(f"the floor wrote other {name} than the engine:\n{found[0]}\n{found[1]}")
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
    args = parser.parse_args(argv)
    status = 0
    started = time.perf_counter()
    figures: list[ActionFigures] = []
    with tempfile.TemporaryDirectory(prefix="planflow-bench-") as folder:
        print(f"Actions: {args.plans} plans per set, draft → executing (4 actions each)")
        figures.append(bench_actions("SQLite", f"sqlite:///{folder}/actions.db", args.plans))
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
    print("memory (reading process, SQLite):")
    for line in memory:
        print(f"  {line}")
    print(f"total {time.perf_counter() - started:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
