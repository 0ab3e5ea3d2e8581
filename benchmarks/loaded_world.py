"""The large world `api.py` reads: counties of grassroots unions with ten years of plans each,
their tasks, signatures, item reminders and audit trails, written to PostgreSQL with COPY.

The shape, for P plans: ceil(P / 10) grassroots unions (a drafter each), 100 to a township (one
township reviewer each), 10 townships to a county (two county approvers each); union k has one
plan a year from 2018 to 2027, as written by the engine's own workflow (`annual-work-plan`):

- 2027, next year's plans, in review in December 2026: 30 % draft, 20 % township_review, 10 %
  county_approval (neither approver has signed), 40 % executing (with their item reminders);
- 2026, the year ending: 70 % self_evaluation, 10 % county_assessment, 20 % closed;
- 2018–2025: closed.

Each plan has the content of one of the demo's plan files (3–4 sections, 3–5 goals, 16–19
monthly items), the tasks its path opened (closed ones with who closed them, the current one
open), the countersign's signers, and one audit row per write along its path (create, submit,
approve, the two signatures, begin_evaluation, submit_evaluation, assess); the audit rows beyond
those, to reach the asked total, are item reports (`report_item`) of the plans past approval.
Every plan's rows form a valid hash chain (`engine.core.audit_chain`) and the plan's version is
its number of audit rows, as if the engine had written them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from bulk import copy_returning_ids, copy_rows, one  # benchmarks/bulk.py
from floor import libpq_url  # benchmarks/floor.py

from engine.core.audit_chain import AuditContent, detail_json, row_hash
from engine.core.calendar import WorkCalendar
from engine.core.planfile import PlanSpec, parse_plan_file
from engine.core.planning import ItemSchedule, item_reminder_kind, plan_item_reminders
from engine.demo import plan_files
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id

TEMPLATE = "annual-work-plan"
TZ = ZoneInfo("Asia/Shanghai")
YEARS = tuple(range(2018, 2028))
NEXT_YEAR, THIS_YEAR = 2027, 2026
UNIONS_PER_TOWNSHIP = 100
TOWNSHIPS_PER_COUNTY = 10


@dataclasses.dataclass(frozen=True)
class Step:
    """One write along a plan's path: its audit row, and the task it closes or opens."""

    action: str
    from_state: str | None
    to_state: str
    actor: str  # drafter, reviewer, approver0, approver1, system
    detail: dict[str, Any] | None = None


PATH = (
    Step("create", None, "draft", "drafter"),
    Step("submit", "draft", "township_review", "drafter"),
    Step("approve", "township_review", "county_approval", "reviewer"),
    Step("approve", "county_approval", "county_approval", "approver0", {"signed": 1, "of": 2}),
    Step("approve", "county_approval", "executing", "approver1"),
    Step("begin_evaluation", "executing", "self_evaluation", "system"),
    Step("submit_evaluation", "self_evaluation", "county_assessment", "drafter"),
    Step("assess", "county_assessment", "closed", "approver0"),
)
# How far along PATH a plan in each state is: the number of its steps taken.
TAKEN = {
    "draft": 1,
    "township_review": 2,
    "county_approval": 3,
    "executing": 5,
    "self_evaluation": 6,
    "county_assessment": 7,
    "closed": 8,
}
# The task each state opens: (role, whose organisation, sign, days until due).
TASKS = {
    "township_review": ("township_reviewer", "township", "any", 9),
    "county_approval": ("county_approver", "county", "all", 14),
    "self_evaluation": ("drafter", "union", "any", 20),
    "county_assessment": ("county_approver", "county", "any", 15),
}


@dataclasses.dataclass(frozen=True)
class LoadedWorld:
    plans: int
    audit_rows: int
    rows: dict[str, int]  # rows written per table
    reviewer: str  # the township reviewer of the first loaded township
    approver: str  # the first county approver of the first loaded county
    sample_plans: list[int]  # plans of the first county in every state, for the plan page


def state_of(year: int, union: int) -> str:
    share = (union * 37) % 100  # spread evenly, and differently from township to township
    if year == NEXT_YEAR:
        if share < 30:
            return "draft"
        if share < 50:
            return "township_review"
        return "county_approval" if share < 60 else "executing"
    if year == THIS_YEAR:
        if share < 70:
            return "self_evaluation"
        return "county_assessment" if share < 80 else "closed"
    return "closed"


def step_times(year: int, steps: int, reports: int) -> list[dt.datetime]:
    """When each written row happened: the review from November of the year before, the
    evaluation from 1 December of the year, the reports in between."""
    review = dt.datetime(year - 1, 11, 2, 9, 0, tzinfo=TZ)
    times = [review + dt.timedelta(days=n) for n in range(min(steps, 5))]
    if steps > 5:
        times.append(dt.datetime(year, 12, 1, 0, 0, tzinfo=TZ))
    report_start = dt.datetime(year, 12, 1, 9, 0, tzinfo=TZ) if steps > 5 else times[-1]
    times[min(steps, 6) : min(steps, 6)] = [
        report_start + dt.timedelta(minutes=n + 1) for n in range(reports)
    ]
    if steps > 6:
        times.append(dt.datetime(year, 12, 2, 9, 0, tzinfo=TZ))
    if steps > 7:
        times.append(dt.datetime(year, 12, 2, 15, 0, tzinfo=TZ))
    return times


def load_world(rt: Runtime, *, plans: int, audit_rows: int) -> LoadedWorld:
    """Write the world for `plans` plans and about `audit_rows` audit rows into rt's database
    (which must hold the bundled templates already)."""
    specs = [parse_plan_file(path) for path in plan_files()]
    unions = math.ceil(plans / len(YEARS))
    townships = math.ceil(unions / UNIONS_PER_TOWNSHIP)
    counties = math.ceil(townships / TOWNSHIPS_PER_COUNTY)
    now = rt.now()
    rows: dict[str, int] = {}
    with psycopg.connect(libpq_url(rt.settings.database_url)) as connection:
        cur = connection.cursor()
        # The rows are written consistent; checking each foreign key row by row (PostgreSQL's
        # constraint triggers) would triple the load's time. Needs a superuser, as the script's
        # admin URL is; the audit table's own triggers refuse only UPDATE and DELETE.
        cur.execute("SET session_replication_role = replica")
        cur.execute("SELECT max(id) FROM workflow_template WHERE name = %s", [TEMPLATE])
        template_id = one(cur)
        with rt.database.read() as tx:
            template = workflow_by_id(rt, tx, template_id).template

        def add(target: str, data: Iterable[tuple[Any, ...]], *, ids: bool = False) -> list[int]:
            """COPY `data` (a generator is not held in memory) and count it per table."""
            table = target.split(" ", 1)[0]
            if ids:
                made = copy_returning_ids(cur, target, data)
                rows[table] = rows.get(table, 0) + len(made)
                return made
            rows[table] = rows.get(table, 0) + copy_rows(cur, target, data)
            return []

        org = "organisation (code, name, parent_id)"
        county_ids = add(
            org, [(f"load-county-{c}", f"负载县总工会{c}", None) for c in range(counties)], ids=True
        )
        township_ids = add(
            org,
            [
                (f"load-town-{t}", f"负载镇工会{t}", county_ids[t // TOWNSHIPS_PER_COUNTY])
                for t in range(townships)
            ],
            ids=True,
        )
        union_ids = add(
            org,
            [
                (f"load-union-{k}", f"负载基层工会{k}", township_ids[k // UNIONS_PER_TOWNSHIP])
                for k in range(unions)
            ],
            ids=True,
        )
        people = (
            [
                (f"load-approver-{c}-{n}", org_id)
                for c, org_id in enumerate(county_ids)
                for n in (0, 1)
            ]
            + [(f"load-reviewer-{t}", org_id) for t, org_id in enumerate(township_ids)]
            + [(f"load-drafter-{k}", org_id) for k, org_id in enumerate(union_ids)]
        )
        user_ids = add(
            "app_user (username, name, org_id, email)",
            [
                (name, f"用户{n}", org_id, f"{name}@example.org")
                for n, (name, org_id) in enumerate(people)
            ],
            ids=True,
        )
        user = dict(zip((name for name, _ in people), user_ids, strict=True))
        roles = ["county_approver"] * (2 * counties) + ["township_reviewer"] * townships
        roles += ["drafter"] * unions
        add(
            "role_grant (user_id, role, granted_at)",
            [(u, role, now) for u, role in zip(user_ids, roles, strict=True)],
        )

        # The plans: plan i is union i % unions's plan of year YEARS[i // unions].
        layout = [(i % unions, YEARS[i // unions]) for i in range(plans)]
        states = [state_of(year, k) for k, year in layout]
        steps_total = sum(TAKEN[s] for s in states)
        reporting = [n for n, s in enumerate(states) if TAKEN[s] >= TAKEN["executing"]]
        extra = max(0, audit_rows - steps_total)
        reports = [0] * plans
        for rank, n in enumerate(reporting):
            reports[n] = extra // len(reporting) + (1 if rank < extra % len(reporting) else 0)
        spec_of = [specs[n % len(specs)] for n in range(plans)]
        plan_ids = add(
            "plan (org_id, year, title, template_id, template_name, template_version, state,"
            " state_entered_at, version, created_by, created_at, updated_at)",
            (
                _plan_row(
                    union_ids[k],
                    year,
                    k,
                    states[n],
                    reports[n],
                    user[f"load-drafter-{k}"],
                    template_id,
                    template.version,
                )
                for n, (k, year) in enumerate(layout)
            ),
            ids=True,
        )
        add(
            "plan_section (plan_id, position, heading, body)",
            (
                (p, pos, s.heading, s.body)
                for p, spec in zip(plan_ids, spec_of, strict=True)
                for pos, s in enumerate(spec.sections, 1)
            ),
        )
        reported = {"county_assessment", "closed"}
        add(
            "goal (plan_id, position, key, title, target, unit, comparator, actual, reported_at)",
            (
                (
                    p,
                    pos,
                    g.key,
                    g.title,
                    g.target,
                    g.unit,
                    g.comparator.value,
                    g.target * 11 / 10 if state in reported else None,
                    dt.datetime(year, 12, 1, 10, tzinfo=TZ) if state in reported else None,
                )
                for p, spec, state, (_, year) in zip(plan_ids, spec_of, states, layout, strict=True)
                for pos, g in enumerate(spec.goals, 1)
            ),
        )
        item_ids = add(
            "monthly_item (plan_id, position, month, title, detail, due_day, status, reported_at)",
            (
                (
                    p,
                    pos,
                    item.month,
                    item.title,
                    item.detail,
                    item.due_day,
                    "done" if state in reported else None,
                    dt.datetime(year, 12, 1, 10, tzinfo=TZ) if state in reported else None,
                )
                for p, spec, state, (_, year) in zip(plan_ids, spec_of, states, layout, strict=True)
                for pos, item in enumerate(spec.items, 1)
            ),
            ids=True,
        )
        first_item = {}
        position = 0
        for p, spec in zip(plan_ids, spec_of, strict=True):
            first_item[p] = position
            position += len(spec.items)

        # Tasks and signers, per plan along its path.
        task_rows: list[tuple[Any, ...]] = []
        signer_plans: list[tuple[int, list[tuple[int, str | None, dt.datetime | None]]]] = []
        for n, (k, year) in enumerate(layout):
            taken, times = TAKEN[states[n]], step_times(year, TAKEN[states[n]], 0)
            town = k // UNIONS_PER_TOWNSHIP
            county = town // TOWNSHIPS_PER_COUNTY
            who = {
                "drafter": user[f"load-drafter-{k}"],
                "reviewer": user[f"load-reviewer-{town}"],
                "approver0": user[f"load-approver-{county}-0"],
                "approver1": user[f"load-approver-{county}-1"],
            }
            whose = {
                "township": township_ids[town],
                "county": county_ids[county],
                "union": union_ids[k],
            }
            for index in range(taken):
                step = PATH[index]
                if step.to_state not in TASKS or step.from_state == step.to_state:
                    continue
                role, where, sign, days = TASKS[step.to_state]
                closing = next(
                    (j for j in range(index + 1, taken) if PATH[j].from_state != PATH[j].to_state),
                    None,
                )
                opened = times[index]
                closed = times[closing] if closing is not None else None
                task_rows.append(
                    (
                        plan_ids[n],
                        step.to_state,
                        role,
                        whose[where],
                        sign,
                        "open" if closing is None else "closed",
                        opened,
                        opened + dt.timedelta(days=days),
                        closed,
                        who.get(PATH[closing].actor) if closing is not None else None,
                        PATH[closing].action if closing is not None else None,
                    )
                )
                if sign == "all":
                    signed = [
                        (
                            who[f"approver{s}"],
                            "approve" if taken > 3 + s else None,
                            times[3 + s] if taken > 3 + s else None,
                        )
                        for s in (0, 1)
                    ]
                    signer_plans.append((len(task_rows) - 1, signed))
        task_ids = add(
            "task (plan_id, state, role, org_id, sign, status, opened_at, due_at, closed_at,"
            " closed_by, outcome)",
            task_rows,
            ids=True,
        )
        add(
            "task_signer (task_id, user_id, position, decision, decided_at)",
            [
                (task_ids[t], u, pos, decision, at)
                for t, signed in signer_plans
                for pos, (u, decision, at) in enumerate(signed)
            ],
        )

        # Item reminders of the live (executing) plans, as the engine plans them.
        calendar = WorkCalendar()
        reminder_rows: list[tuple[Any, ...]] = []
        for n, (p, spec) in enumerate(zip(plan_ids, spec_of, strict=True)):
            if states[n] != "executing":
                continue
            items = [
                ItemSchedule(
                    item_id=item_ids[first_item[p] + j],
                    month=it.month,
                    due_day=it.due_day,
                    title=it.title,
                )
                for j, it in enumerate(spec.items)
            ]
            for r in plan_item_reminders(
                plan_id=p,
                year=layout[n][1],
                rules=template.reminders,
                items=items,
                tz=TZ,
                calendar=calendar,
            ):
                kind = item_reminder_kind(template.reminders[r.rule_index]).value
                reminder_rows.append(
                    (r.key, p, kind, r.rule_index, r.item_id, r.role, r.fire_at, "planned", 0, now)
                )
        add(
            "reminder (key, plan_id, kind, rule_index, item_id, recipient_role, fire_at, status,"
            " attempts, created_at)",
            reminder_rows,
        )
        add(
            "audit_event (plan_id, at, actor_id, action, from_state, to_state, comment,"
            " plan_version, detail, prev_hash, row_hash)",
            _audit_rows(layout, states, reports, plan_ids, spec_of, user),
        )
        cur.execute("ANALYZE")
    first_county = [
        plan_ids[n]
        for n, (k, _) in enumerate(layout)
        if k // UNIONS_PER_TOWNSHIP // TOWNSHIPS_PER_COUNTY == 0
    ]
    return LoadedWorld(
        plans=plans,
        audit_rows=rows["audit_event"],
        rows=rows,
        reviewer="load-reviewer-0",
        approver="load-approver-0-0",
        sample_plans=first_county[:: max(1, len(first_county) // 200)],
    )


def _plan_row(
    org_id: int,
    year: int,
    union: int,
    state: str,
    reports: int,
    drafter: int,
    template_id: int,
    template_version: int,
) -> tuple[Any, ...]:
    """A plan's row: its version is its number of audit rows, its state entered at the last
    step that changed it (the reports come after)."""
    taken = TAKEN[state]
    entered = step_times(year, taken, 0)[taken - 1]
    updated = step_times(year, taken, reports)[-1]
    title = f"负载基层工会{union} {year}年工会工作计划"
    return (
        org_id,
        year,
        title,
        template_id,
        TEMPLATE,
        template_version,
        state,
        entered,
        taken + reports,
        drafter,
        entered if taken == 1 else step_times(year, 1, 0)[0],
        updated,
    )


def _audit_rows(
    layout: list[tuple[int, int]],
    states: list[str],
    reports: list[int],
    plan_ids: list[int],
    spec_of: list[PlanSpec],
    user: dict[str, int],
) -> Iterator[tuple[Any, ...]]:
    """Each plan's audit rows in its order, chained: its path's writes, with its item reports
    after approval (in the self-evaluation when it got there, else while executing)."""
    for n, (k, year) in enumerate(layout):
        town = k // UNIONS_PER_TOWNSHIP
        county = town // TOWNSHIPS_PER_COUNTY
        who: dict[str, int | None] = {
            "drafter": user[f"load-drafter-{k}"],
            "reviewer": user[f"load-reviewer-{town}"],
            "approver0": user[f"load-approver-{county}-0"],
            "approver1": user[f"load-approver-{county}-1"],
            "system": None,
        }
        taken = TAKEN[states[n]]
        steps: list[tuple[Step, str | None]] = [(step, None) for step in PATH[:taken]]
        items = spec_of[n].items
        at_state = "self_evaluation" if taken > 5 else "executing"
        report_steps = [
            (
                Step(
                    "report_item",
                    at_state,
                    at_state,
                    "drafter",
                    {
                        "item": j % len(items) + 1,
                        "month": items[j % len(items)].month,
                        "title": items[j % len(items)].title,
                        "status": "done",
                    },
                ),
                None,
            )
            for j in range(reports[n])
        ]
        cut = min(taken, 6)
        steps[cut:cut] = report_steps
        times = step_times(year, taken, reports[n])
        prev: str | None = None
        for version, ((step, comment), at) in enumerate(zip(steps, times, strict=True), 1):
            detail = detail_json(step.detail)
            content = AuditContent(
                plan_id=plan_ids[n],
                plan_version=version,
                actor_id=who[step.actor],
                at=at,
                action=step.action,
                from_state=step.from_state,
                to_state=step.to_state,
                comment=comment,
                idempotency_key=None,
                request_hash=None,
                detail=detail,
            )
            hashed = row_hash(content, prev)
            yield (
                content.plan_id,
                at,
                content.actor_id,
                step.action,
                step.from_state,
                step.to_state,
                comment,
                version,
                detail,
                prev,
                hashed,
            )
            prev = hashed
