"""Plans: create from a plan file, edit (or amend the items of a live plan), show, list, history."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.core.audit_detail import describe
from engine.core.errors import ActionRefused, AlreadyExists, NotFound, PermissionDenied
from engine.core.i18n import Message
from engine.core.planfile import PlanSpec
from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.yamlschema import did_you_mean
from engine.service.actions import enter_state, plan_reminders
from engine.service.directory import find_org, find_user, org_path, roles_of
from engine.service.possible import possible_now
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import find_template, workflow_by_id
from engine.service.writes import (
    Change,
    WriteContext,
    WriteResult,
    find_replay,
    idempotency_conflicts,
    owner_roles,
    record_write,
    refused_by_database,
    request_fingerprint,
    require_owner,
    roles_in_scope,
    write_plan,
)
from engine.store import Transaction
from engine.store.people import Org, Person, org_by_id
from engine.store.plan_content import (
    Goal,
    Item,
    Section,
    delete_items,
    detach_reminder,
    goals_of,
    insert_item,
    item_reminders,
    items_of,
    items_with_history,
    replace_content,
    sections_of,
    update_item,
)
from engine.store.plan_identity import insert_plan_unless_taken, plan_holding
from engine.store.plan_views import (
    AuditEvent,
    Task,
    TaskSigner,
    org_parents,
    plan_by_id,
    plan_events,
    plans_at,
    signers_of,
    tasks_of,
    template_ids,
)
from engine.store.plans import PlanRecord
from engine.store.statuses import ReminderStatus, TaskStatus

Found = TypeVar("Found")


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


def create_plan(
    rt: Runtime,
    *,
    spec: PlanSpec,
    actor: str,
    source: str = "plan",
    idempotency_key: str | None = None,
) -> WriteResult:
    """Create a plan in its template's initial state, as one of its owners, in one transaction."""
    request_hash = request_fingerprint({"action": "create", "actor": actor, "spec": spec})
    with (
        refused_by_database(),
        idempotency_conflicts(idempotency_key),
        rt.database.transaction() as tx,
    ):
        if idempotency_key is not None:
            earlier = find_replay(tx, idempotency_key, request_hash)
            if earlier is not None:
                return earlier
        user = find_user(tx, actor)
        org = _named(source, "org", lambda: find_org(tx, spec.org))
        # TODO(templates): `find_template(tx, …)` once it takes the Transaction.
        record = _named(
            source,
            "template",
            lambda: find_template(tx.session, spec.template_name, spec.template_version),
        )
        assert record.id is not None
        workflow = workflow_by_id(rt, tx, record.id)
        owners = owner_roles(workflow.template)
        if not roles_in_scope(workflow.template, tx, user, org_path(tx, org.id)) & owners:
            raise PermissionDenied(
                "{username} may not create plans for {org_name}: that needs the role {roles} at "
                "{org_name}",
                code="plan.create_denied",
                username=actor,
                org=org.code,
                org_name=org.name,
                roles=", ".join(sorted(owners)),
            )
        _refuse_duplicate(tx, org, spec.year, record.name)
        plan = insert_plan_unless_taken(  # at version 0: the creation's audit row makes it 1
            tx,
            org_id=org.id,
            year=spec.year,
            title=spec.title,
            template_id=record.id,
            template_name=record.name,
            template_version=record.version,
            state=workflow.template.initial_state.name,
            created_by=user.id,
            at=rt.now(),
        )
        if plan is None:
            # Another create of the same (organisation, year, template) committed between our
            # check and our insert (PostgreSQL lets both check, then refuses the second insert).
            # Now the winner is seen: it answers the replay if it used our key, else AlreadyExists.
            if idempotency_key is not None:
                earlier = find_replay(tx, idempotency_key, request_hash)
                if earlier is not None:
                    return earlier
            _refuse_duplicate(tx, org, spec.year, record.name)
            raise AssertionError("the plan's identity was taken, but no plan holds it")
        replace_content(tx, plan_id=plan.id, spec=spec)

        def created(ctx: WriteContext) -> Change:
            enter_state(ctx, ctx.workflow.state(ctx.plan.state))
            return Change(action="create", from_state="", to_state=ctx.plan.state)

        return record_write(
            rt,
            tx,
            plan,
            actor=actor,
            change=created,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )


def _refuse_duplicate(tx: Transaction, org: Org, year: int, template_name: str) -> None:
    duplicate = plan_holding(tx, org_id=org.id, year=year, template_name=template_name)
    if duplicate is not None:
        raise AlreadyExists(
            "{org_name} already has a {year} plan on {template} (plan #{plan_id}); edit that one "
            "instead",
            code="plan.exists",
            plan_id=duplicate,
            org=org.code,
            org_name=org.name,
            year=year,
            template=template_name,
        )


def edit_plan(
    rt: Runtime,
    *,
    plan_id: int,
    spec: PlanSpec,
    actor: str,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Change a plan from its plan file, as one of its owners.

    In the initial state everything but the organisation, year and template may change (a file
    that changes them is refused, naming the field, rather than having them ignored). While the
    plan is live (`items: live`) only its monthly items may: an amendment keeps each item that is
    still there (matched by month and title, with its reported status), and re-plans the
    reminders — those of removed or moved items are cancelled, new ones added, those already sent
    untouched.
    """

    def edited(ctx: WriteContext) -> Change:
        require_owner(ctx, "edit it")
        _refuse_fixed_changes(ctx, spec)
        state = ctx.workflow.state(ctx.plan.state)
        if state.items_live:
            detail = _amend_items(ctx, spec)
            return Change(action="amend", from_state=state.name, to_state=state.name, detail=detail)
        initial = ctx.workflow.template.initial_state
        if state.name != initial.name:
            raise ActionRefused(
                "plan #{plan_id} can only be edited in {initial_title} ({initial}), or have its "
                "monthly items amended while it is live; it is in {state_title} ({state})",
                code="plan.not_editable",
                plan_id=plan_id,
                state=state.name,
                state_title=state.title,
                initial=initial.name,
                initial_title=initial.title,
            )
        # A plan sent back from a live state has reminders about the items the edit replaces.
        items = items_of(ctx.tx, plan_id=plan_id)
        _detach_reminders(ctx.tx, items, "replaced by an edit of the plan")
        replace_content(ctx.tx, plan_id=plan_id, spec=spec)
        ctx.plan.title = spec.title
        return Change(action="edit", from_state=ctx.plan.state, to_state=ctx.plan.state)

    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": "edit", "spec": spec},
        change=edited,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
    )


def _refuse_fixed_changes(ctx: WriteContext, spec: PlanSpec) -> None:
    """Refuse a plan file whose org, year or template differ from the plan's, naming each."""
    plan = ctx.plan
    org = org_by_id(ctx.tx, org_id=plan.org_id)
    assert org is not None
    differ: list[tuple[str, object, object, Message]] = []  # field, file's value, plan's, words
    if spec.org != org.code:
        differ.append(
            (
                "org",
                spec.org,
                org.code,
                Message.of(
                    "org {value!r} (the plan's is {current!r})", value=spec.org, current=org.code
                ),
            )
        )
    if spec.year != plan.year:
        differ.append(
            (
                "year",
                spec.year,
                plan.year,
                Message.of(
                    "year {value} (the plan's is {current})", value=spec.year, current=plan.year
                ),
            )
        )
    if spec.template_name != plan.template_name:
        differ.append(
            (
                "template",
                spec.template_name,
                plan.template_name,
                Message.of(
                    "template {value!r} (the plan's is {current!r})",
                    value=spec.template_name,
                    current=plan.template_name,
                ),
            )
        )
    elif spec.template_version not in (None, plan.template_version):
        differ.append(
            (
                "template_version",
                spec.template_version,
                plan.template_version,
                Message.of(
                    "template version {value} (the plan's is {current})",
                    value=spec.template_version,
                    current=plan.template_version,
                ),
            )
        )
    if differ:
        field, value, current, _ = differ[0]
        changes = differ[0][3]
        for *_, words in differ[1:]:
            changes = Message.of("{first}; {then}", first=changes, then=words)
        raise ActionRefused(
            "the file gives {changes}: a plan's organisation, year and template cannot change; "
            "create a new plan instead",
            code="plan.fixed_field",
            plan_id=plan.id,
            field=field,
            value=value,
            current=current,
            changes=changes,
        )


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
        org = org_by_id(tx, org_id=plan.org_id)
        assert org is not None
        tasks = tasks_of(tx, plan_id=plan_id)
        signers = {
            task.id: signers_of(tx, task_id=task.id)
            for task in tasks
            if task.status == TaskStatus.OPEN
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
            # TODO(returns): `last_return(tx, …)` once it takes the Transaction.
            returned=last_return(tx.session, plan_id=plan_id, state=plan.state, workflow=workflow),
        )


def list_plans(
    rt: Runtime, *, actor: str, year: int | None = None, state: str | None = None, limit: int = 200
) -> list[tuple[PlanRecord, Org]]:
    """Plans the actor's roles reach, newest first; `state` is a state's name or its title."""
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        held = roles_of(tx, user.id)
        reach = reachable_orgs(tx, user, held)
        if not reach:
            return []
        states = _state_names(rt, tx, state) if state is not None else None
        rows = plans_at(tx, org_ids=reach, year=year, states=states, newest_first=True, limit=limit)
        visible = []
        for plan, org in rows:
            template = workflow_by_id(rt, tx, plan.template_id).template
            if roles_covering(template.roles, held, user.org_id, org_path(tx, plan.org_id)):
                visible.append((plan, org))
        return visible


def _state_names(rt: Runtime, tx: Transaction, wanted: str) -> set[str]:
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
    if not held:
        return set()
    children: dict[int | None, list[int]] = {}
    for org_id, parent_id in org_parents(tx).items():
        children.setdefault(parent_id, []).append(org_id)
    reach, frontier = {user.org_id}, [user.org_id]
    while frontier:
        below = children.get(frontier.pop(), [])
        reach.update(below)
        frontier.extend(below)
    return reach


def _amend_items(ctx: WriteContext, spec: PlanSpec) -> dict[str, Any]:
    """Apply a live plan's new item list; returns what changed, for the audit row."""
    tx, plan_id = ctx.tx, ctx.plan_id
    unchanged = _locked_parts_that_differ(tx, ctx.plan, spec)
    if unchanged:
        state = ctx.workflow.state(ctx.plan.state)
        raise ActionRefused(
            "while plan #{plan_id} is {state_title} only its monthly items can change; the file "
            "also changes its {parts}",
            code="plan.locked_parts",
            plan_id=plan_id,
            state=state.name,
            state_title=state.title,
            field=unchanged[0],
            parts=", ".join(unchanged),
        )
    current = {(item.month, item.title): item for item in items_of(tx, plan_id=plan_id)}
    wanted = {(item.month, item.title) for item in spec.items}
    removed = [item for key, item in current.items() if key not in wanted]
    started = items_with_history(tx, item_ids=[item.id for item in removed])
    blocked = [
        f"{item.month}月 {item.title}" for item in removed if item.id in started or item.status
    ]
    if blocked:
        raise ActionRefused(
            "cannot remove {items}: reminders for it already went out or it was reported; keep "
            "it in the plan and report it (e.g. as not done) instead",
            code="plan.item_has_history",
            plan_id=plan_id,
            items=", ".join(blocked),
        )
    cancelled = _detach_reminders(tx, removed, "removed from the plan")
    # Gone before the others move, so no two items ever share a position.
    delete_items(tx, item_ids=[item.id for item in removed])
    changed = added = 0
    for position, item in enumerate(spec.items, 1):
        row = current.get((item.month, item.title))
        if row is None:
            added += 1
            insert_item(tx, plan_id=plan_id, position=position, item=item)
            continue
        changed += (row.detail, row.due_day) != (item.detail, item.due_day)
        update_item(tx, item_id=row.id, position=position, detail=item.detail, due_day=item.due_day)
    plan_reminders(ctx)
    detail: dict[str, Any] = {"added": added, "changed": changed, "removed": len(removed)}
    if removed:
        detail["removed_items"] = [f"{item.month}月 {item.title}" for item in removed]
        detail["cancelled_reminders"] = cancelled
    return detail


def _detach_reminders(tx: Transaction, items: list[Item], why: str) -> int:
    """Keep the reminders of items about to be deleted; returns how many were cancelled.

    Reminder rows are never deleted: those not sent yet are cancelled, and every one says in its
    reason which item it was about (month and title), since the item's row goes. Its key gets the
    reminder's id appended, so an item that later gets the same id (SQLite reuses the highest)
    plans its own reminders under the old keys without colliding.
    """
    by_id = {item.id: item for item in items}
    cancelled = 0
    for reminder in item_reminders(tx, item_ids=list(by_id)):
        item = by_id[reminder.item_id]
        # Stored on the reminder as an operator's record, in English like the rest of the log.
        note = f"its item {item.month}月 {item.title} was {why}"
        status = reminder.status
        if status in (ReminderStatus.PLANNED, ReminderStatus.FAILED):
            status, last_error = ReminderStatus.CANCELLED.value, note
            cancelled += 1
        else:
            last_error = f"{reminder.last_error}; {note}" if reminder.last_error else note
        detach_reminder(
            tx,
            reminder_id=reminder.id,
            status=status,
            last_error=last_error,
            key=f"{reminder.key}:removed:{reminder.id}",
        )
    return cancelled


def _locked_parts_that_differ(tx: Transaction, plan: PlanRecord, spec: PlanSpec) -> list[str]:
    """Which of title, sections and goals `spec` would change (they are fixed once approved)."""
    sections = [(s.heading, s.body) for s in sections_of(tx, plan_id=plan.id)]
    goals = [
        (g.key, g.title, g.target, g.unit, g.comparator, g.allow_negative)
        for g in goals_of(tx, plan_id=plan.id)
    ]
    differ = []
    if spec.title != plan.title:
        differ.append("title")
    if [(s.heading, s.body) for s in spec.sections] != sections:
        differ.append("sections")
    wanted_goals = [
        (g.key, g.title, float(g.target), g.unit, g.comparator.value, g.allow_negative)
        for g in spec.goals
    ]
    if wanted_goals != goals:
        differ.append("goals")
    return differ


def _named(source: str, key: str, find: Callable[[], Found]) -> Found:
    """Run a lookup for a plan file's field, so a miss names the file and the key."""
    try:
        return find()
    except NotFound as error:
        fields = {k: v for k, v in error.fields.items() if k not in ("file", "field", "problem")}
        raise NotFound(
            "{file}: {field}: {problem}",
            code=error.code,
            **fields,
            file=source,
            field=key,
            problem=Message(error.template, error.fields),
        ) from None
