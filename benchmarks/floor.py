"""The floor of `benchmarks/actions.py`: the least SQL an action needs, written by hand.

`RawActions` is the engine's action written for the raw driver (`sqlite3` / `psycopg`): the same
reads and writes, one transaction per action, deciding with the same pure core (the compiled
workflow's `permit` and `fire`, scope, calendar, reminder planning). What it costs is what an
action cannot cost less than on this machine and database, so the engine's rate over the
floor's is what the ORM, the store and the service layer cost. A floor only counts if it does
the same work: `differing_rows` compares what the two wrote, and the benchmark stops on any
difference. Nothing here is used by the engine, and nothing of the engine's write path is used
here.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import sqlalchemy as sa

from engine.core.audit_chain import AuditContent, detail_json, row_hash
from engine.core.calendar import WorkCalendar
from engine.core.errors import ActionRefused, NotFound, PermissionDenied
from engine.core.guards import PlanFacts
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
from engine.store.database import DEFAULT_LOCK_TIMEOUT_SECONDS


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
            raise NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)
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
            raise NotFound("no user {username!r}", code="user.not_found", username=username)
        user_id, user_org = grants[0][0], grants[0][1]
        roles = {
            role
            for _, _, role in grants
            if role in template.roles and covers(template.roles[role].scope, user_org, path)
        }
        if not roles:
            raise NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)
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
                raise PermissionDenied(
                    "{username} may not sign task #{task_id}",
                    code="sign.not_a_signer",
                    username=username,
                    task_id=task[0],
                )
            undecided = [s for s in signers if s[2] is None]
            if task[1] == SignMode.SEQUENCE and undecided[0][1] != user_id:
                raise ActionRefused(
                    "it is not {username}'s turn to sign",
                    code="sign.not_your_turn",
                    username=username,
                )
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


def differing_rows(url: str, engine_plan_ids: list[int], floor_plan_ids: list[int]) -> str | None:
    """What the floor wrote otherwise than the engine, compared per kind of row; None if nothing.

    Counted by the columns both must agree on (ids and times aside), plan set against plan set.
    """
    connection, _ = raw_connection(url)
    try:
        for name, query in _SAME_ROWS.items():
            found = []
            for plan_ids in (engine_plan_ids, floor_plan_ids):
                cur = connection.cursor()
                cur.execute(query.format(ids=", ".join(str(plan_id) for plan_id in plan_ids)))
                found.append(sorted(tuple(map(str, row)) for row in cur.fetchall()))
                cur.close()
            if found[0] != found[1]:
                return f"the floor wrote other {name} than the engine:\n{found[0]}\n{found[1]}"
        return None
    finally:
        connection.close()


_SAME_ROWS = {
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
