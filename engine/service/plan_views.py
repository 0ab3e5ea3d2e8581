"""Reading plans: one plan shown whole, listings, and a plan's audit trail, as far as the reader's
roles reach (out of scope reads as no plan).

Each read is one `Database.read()` transaction; what it returns are the store's records
(`engine.store.plan_views`, `plan_content`), so a page, the CLI and the tests read them alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.core.audit_detail import describe
from engine.core.errors import NotFound
from engine.core.i18n import Message
from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.template.model import Template
from engine.core.yamlschema import did_you_mean
from engine.service.directory import find_org, find_user, no_org, org_path, roles_of
from engine.service.possible import possible_now
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import find_template, workflow_by_id
from engine.service.writes import roles_in_scope
from engine.store import Transaction
from engine.store.inbox_reads import subtree_ids
from engine.store.people import Org, Person, org_by_id
from engine.store.plan_content import Goal, Item, Section, goals_of, items_of, sections_of
from engine.store.plan_views import (
    AuditEvent,
    Task,
    TaskSigner,
    plan_by_id,
    plan_events,
    plans_at,
    signers_of,
    tasks_of,
    template_ids,
    version_event_id,
)
from engine.store.plans import PlanRecord
from engine.store.statuses import TaskStatus


@dataclass(frozen=True)
class PlanView:
    plan: PlanRecord
    org: Org
    state_title: str
    sections: list[Section]
    goals: list[Goal]
    items: list[Item]
    tasks: list[Task]
    signers: dict[int, list[tuple[Person, TaskSigner]]]  # by task id
    possible: list[str]  # what the person may do now: triggers, then commands (`possible_now`)
    returned: ReturnNote | None  # why the plan waits in draft, when it was returned


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    actor: str  # a user's name, or "system"
    actor_username: str | None = None  # None: the system

    @property
    def detail(self) -> dict[str, Any] | None:
        """The row's detail as stored (a JSON object), or None."""
        return json.loads(self.event.detail) if self.event.detail else None

    @property
    def summary(self) -> str:
        """The detail in words (`engine/core/audit_detail.py`)."""
        return describe(self.event.action, self.detail)


def _visible_plan(
    rt: Runtime, tx: Transaction, plan_id: int, actor: str
) -> tuple[PlanRecord, Workflow, set[str], Person]:
    """The plan, its workflow, the actor's roles on it and the actor; out of scope reads as no
    plan."""
    plan = plan_by_id(tx, plan_id=plan_id)
    user = find_user(tx, actor)
    if plan is None:
        raise _no_plan(plan_id)
    workflow = workflow_by_id(rt, tx, plan.template_id)
    roles = roles_in_scope(workflow.template, tx, user, org_path(tx, plan.org_id))
    if not roles:
        raise _no_plan(plan_id)
    return plan, workflow, roles, user


def _no_plan(plan_id: int) -> NotFound:
    return NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)


def show_plan(rt: Runtime, *, plan_id: int, actor: str) -> PlanView:
    with rt.database.read() as tx:
        plan, workflow, roles, user = _visible_plan(rt, tx, plan_id, actor)
        return _view(tx, plan, workflow, roles, user)


def show_plan_with_history(
    rt: Runtime, *, plan_id: int, actor: str
) -> tuple[PlanView, list[HistoryEntry], Template]:
    """`show_plan`, `plan_history` and the template the plan follows, in one read (the plan
    page's)."""
    with rt.database.read() as tx:
        plan, workflow, roles, user = _visible_plan(rt, tx, plan_id, actor)
        view = _view(tx, plan, workflow, roles, user)
        return view, _history(tx, plan_id), workflow.template


def _view(
    tx: Transaction, plan: PlanRecord, workflow: Workflow, roles: set[str], user: Person
) -> PlanView:
    plan_id = plan.id
    org = org_by_id(tx, org_id=plan.org_id)
    assert org is not None
    tasks = tasks_of(tx, plan_id=plan_id)
    signers = {
        task.id: signers_of(tx, task_id=task.id) for task in tasks if task.status == TaskStatus.OPEN
    }
    return PlanView(
        plan=plan,
        org=org,
        state_title=workflow.state(plan.state).title,
        sections=sections_of(tx, plan_id=plan_id),
        goals=goals_of(tx, plan_id=plan_id),
        items=items_of(tx, plan_id=plan_id),
        tasks=tasks,
        signers=signers,
        possible=possible_now(
            tx, plan_id=plan_id, state=plan.state, workflow=workflow, user=user, roles=roles
        ),
        returned=last_return(tx, plan_id=plan_id, state=plan.state, workflow=workflow),
    )


def list_plans(
    rt: Runtime,
    *,
    actor: str,
    year: int | None = None,
    state: str | None = None,
    org: str | None = None,
    template: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[tuple[PlanRecord, Org]]:
    """Plans the actor's roles reach, newest first; `state` is a state's name or its title,
    `org` an organisation's code (its plans and those below it), `template` a template's name.
    An unknown state, organisation or template is refused, never answered with an empty list.
    `offset` skips that many of the visible plans (a page of `limit` after it)."""
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        held = roles_of(tx, user.id)
        reach = reachable_orgs(tx, user, held)
        states = state_names(rt, tx, state) if state is not None else None
        if org is not None:
            reach &= subtree(tx, org_within(tx, org, reach).id)
        templates = {find_template(tx, template).name} if template is not None else None
        if not reach:
            return []
        # The organisations reached may hold plans whose template's scopes do not let the actor
        # see them: read more rows until the page is full or there are no more.
        wanted = fetch = offset + limit
        while True:
            rows = plans_at(
                tx,
                org_ids=reach,
                year=year,
                states=states,
                template_names=templates,
                newest_first=True,
                limit=fetch,
            )
            visible = []
            for plan, plan_org in rows:
                roles = workflow_by_id(rt, tx, plan.template_id).template.roles
                if roles_covering(roles, held, user.org_id, org_path(tx, plan.org_id)):
                    visible.append((plan, plan_org))
            if len(visible) >= wanted or len(rows) < fetch:
                return visible[offset:wanted]
            fetch *= 2


def state_titles(rt: Runtime, plans: list[PlanRecord]) -> dict[int, str]:
    """The title of the state each plan is in, by plan id, in one read (workflows are cached)."""
    with rt.database.read() as tx:
        return {
            plan.id: workflow_by_id(rt, tx, plan.template_id).state(plan.state).title
            for plan in plans
        }


def org_in_reach(rt: Runtime, *, actor: str, code: str) -> Org:
    """The organisation `code` names, if the actor's grants reach it; an unknown one and one
    beyond reach are refused alike (`no_org`), so a caller cannot tell which exist."""
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        return org_within(tx, code, reachable_orgs(tx, user, roles_of(tx, user.id)))


def state_names(rt: Runtime, tx: Transaction, wanted: str) -> set[str]:
    """The state names `wanted` stands for in the loaded templates: a name, or a title (草稿).

    A word that is neither is refused rather than answered with an empty list.
    """
    wanted = wanted.strip()
    names: set[str] = set()
    known: dict[str, str] = {}  # every name and title → its name, in the order written
    for template_id in template_ids(tx):
        for state in workflow_by_id(rt, tx, template_id).template.states.values():
            known.setdefault(state.name, state.name)
            known.setdefault(state.title, state.name)
            if wanted in (state.name, state.title):
                names.add(state.name)
    if not names:
        listing = ", ".join(dict.fromkeys(known.values()))
        near = did_you_mean(wanted, known)
        hint: str | Message = (
            near
            if near
            else Message.of("; states: {states}", states=listing)
            if listing
            else Message.of("; states: none (no template loaded)")
        )
        raise NotFound(
            "no state {state!r} in the loaded templates{hint}",
            code="state.unknown",
            state=wanted,
            hint=hint,
        )
    return names


def plan_history(rt: Runtime, *, plan_id: int, actor: str) -> list[HistoryEntry]:
    with rt.database.read() as tx:
        _visible_plan(rt, tx, plan_id, actor)
        return _history(tx, plan_id)


def _history(tx: Transaction, plan_id: int) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            event=row.event,
            actor=row.actor.name if row.actor else "system",
            actor_username=row.actor.username if row.actor else None,
        )
        for row in plan_events(tx, plan_id=plan_id)
    ]


def reachable_orgs(tx: Transaction, user: Person, held: list[str]) -> set[int]:
    """Every organisation the user's grants (`held`) could reach (the template scopes then
    decide); none without a grant."""
    return subtree(tx, user.org_id) if held else set()


def org_within(tx: Transaction, code: str, reach: set[int]) -> Org:
    """The organisation `code` names, if it is within `reach`; refused as unknown otherwise."""
    org = find_org(tx, code)
    if org.id not in reach:
        raise no_org(code)
    return org


def subtree(tx: Transaction, org_id: int) -> set[int]:
    """The organisation and every organisation below it."""
    return subtree_ids(tx, org_id=org_id) | {org_id}


@dataclass(frozen=True)
class Outcome:
    """What a write left, as its author reads it back: the audit row of the version it made
    and the title of the state the plan is in now."""

    audit_id: int | None  # None: no row of that version (never, once the write committed)
    state_title: str


def write_outcome(rt: Runtime, *, plan_id: int, version: int, state: str, actor: str) -> Outcome:
    """The audit row of `version` of the plan, and the title of `state` (where it went)."""
    with rt.database.read() as tx:
        _, workflow, _, _ = _visible_plan(rt, tx, plan_id, actor)
        audit_id = version_event_id(tx, plan_id=plan_id, version=version)
        return Outcome(audit_id=audit_id, state_title=workflow.state(state).title)
