"""Plans: create from a plan file, edit (or amend the items of a live plan), show, list, history."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from engine.core.audit_detail import describe
from engine.core.errors import ActionRefused, AlreadyExists, NotFound, PermissionDenied
from engine.core.planfile import ItemSpec, PlanSpec
from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.yamlschema import did_you_mean
from engine.service.actions import enter_state, plan_reminders
from engine.service.directory import find_org, find_user, org_path, roles_of
from engine.service.possible import possible_now
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import find_template, workflow_by_id, workflow_for
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
from engine.store.driver import Transaction
from engine.store.people import Person
from engine.store.plans import PlanRecord, insert_plan
from engine.store.statuses import ReminderStatus, TaskStatus
from engine.store.tables import (
    AuditEvent,
    Goal,
    MonthlyItem,
    Organisation,
    Plan,
    PlanSection,
    Reminder,
    RoleGrant,
    Task,
    TaskSigner,
    TemplateRecord,
    User,
)

Child = TypeVar("Child", PlanSection, Goal, MonthlyItem)
Found = TypeVar("Found")


@dataclass(frozen=True)
class PlanView:
    plan: Plan
    org: Organisation
    state_title: str
    sections: list[PlanSection]
    goals: list[Goal]
    items: list[MonthlyItem]
    tasks: list[Task]
    signers: dict[int, list[tuple[User, TaskSigner]]]  # by task id
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
    try:
        return _create_plan(rt, spec, actor, source, idempotency_key)
    except IntegrityError as error:
        if not any(name in str(error.orig) for name in _PLAN_IDENTITY):
            raise
    # Another create of the same (organisation, year, template) committed between our check and
    # our insert (PostgreSQL lets both check, then refuses the second insert). Once more: the
    # check now sees the winner and answers AlreadyExists, or the replay if it used our key.
    return _create_plan(rt, spec, actor, source, idempotency_key)


# How each database names the unique (org_id, year, template_name) of `plan` when it refuses a
# second row: PostgreSQL by the constraint's default name, SQLite by its columns.
_PLAN_IDENTITY = (
    "plan_org_id_year_template_name_key",
    "plan.org_id, plan.year, plan.template_name",
)


def _create_plan(
    rt: Runtime, spec: PlanSpec, actor: str, source: str, idempotency_key: str | None
) -> WriteResult:
    request_hash = request_fingerprint({"action": "create", "actor": actor, "spec": spec})
    with (
        refused_by_database(),
        idempotency_conflicts(idempotency_key),
        rt.database.write() as tx,
    ):
        if idempotency_key is not None:
            earlier = find_replay(tx, idempotency_key, request_hash)
            if earlier is not None:
                return earlier
        session = tx.session
        user = find_user(Transaction.of(session), actor)
        org = _named(source, "org", lambda: find_org(Transaction.of(session), spec.org))
        record = _named(
            source,
            "template",
            lambda: find_template(session, spec.template_name, spec.template_version),
        )
        workflow = workflow_for(rt, record)
        assert org.id is not None and record.id is not None and user.id is not None
        owners = owner_roles(workflow.template)
        if not roles_in_scope(workflow.template, tx, user, org_path(tx, org.id)) & owners:
            raise PermissionDenied(
                f"{actor} may not create plans for {org.name}: that needs the role "
                f"{', '.join(sorted(owners))} at {org.name}"
            )
        duplicate = session.exec(
            select(Plan.id).where(
                Plan.org_id == org.id, Plan.year == spec.year, Plan.template_name == record.name
            )
        ).first()
        if duplicate is not None:
            raise AlreadyExists(
                f"{org.name} already has a {spec.year} plan on {record.name} (plan #{duplicate}); "
                "edit that one instead"
            )
        assert org.id is not None and record.id is not None and user.id is not None
        plan = insert_plan(  # at version 0: the creation's audit row makes it 1
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
        plan_id = plan.id
        _replace_content(session, plan_id, spec)

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
                f"plan #{plan_id} can only be edited in {initial.title} ({initial.name}), or have "
                f"its monthly items amended while it is live; it is in {state.title} ({state.name})"
            )
        # A plan sent back from a live state has reminders about the items the edit replaces.
        items = _children(ctx.session, MonthlyItem, plan_id)
        _detach_reminders(ctx.session, items, "replaced by an edit of the plan")
        _replace_content(ctx.session, plan_id, spec)
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
    org = ctx.session.get(Organisation, plan.org_id)
    assert org is not None
    differ = []
    if spec.org != org.code:
        differ.append(f"org {spec.org!r} (the plan's is {org.code!r})")
    if spec.year != plan.year:
        differ.append(f"year {spec.year} (the plan's is {plan.year})")
    if spec.template_name != plan.template_name:
        differ.append(f"template {spec.template_name!r} (the plan's is {plan.template_name!r})")
    elif spec.template_version not in (None, plan.template_version):
        differ.append(
            f"template version {spec.template_version} (the plan's is {plan.template_version})"
        )
    if differ:
        raise ActionRefused(
            f"the file gives {'; '.join(differ)}: a plan's organisation, year and template "
            f"cannot change; create a new plan instead"
        )


def _visible_plan(
    rt: Runtime, session: Session, plan_id: int, actor: str
) -> tuple[Plan, Workflow, set[str]]:
    """The plan, its workflow and the actor's roles on it; out of scope reads as no plan."""
    plan = session.get(Plan, plan_id)
    user = find_user(Transaction.of(session), actor)
    if plan is None:
        raise NotFound(f"no plan #{plan_id}")
    workflow = workflow_by_id(rt, session, plan.template_id)
    path = org_path(Transaction.of(session), plan.org_id)
    roles = roles_in_scope(workflow.template, Transaction.of(session), user, path)
    if not roles:
        raise NotFound(f"no plan #{plan_id}")
    return plan, workflow, roles


def show_plan(rt: Runtime, *, plan_id: int, actor: str) -> PlanView:
    with rt.database.session() as session:
        plan, workflow, roles = _visible_plan(rt, session, plan_id, actor)
        org = session.get(Organisation, plan.org_id)
        assert org is not None
        tasks = list(
            session.exec(select(Task).where(Task.plan_id == plan_id).order_by(col(Task.id)))
        )
        signers: dict[int, list[tuple[User, TaskSigner]]] = {}
        for task in tasks:
            if task.status == TaskStatus.OPEN and task.id is not None:
                signers[task.id] = list(
                    session.exec(
                        select(User, TaskSigner)
                        .join(TaskSigner, col(TaskSigner.user_id) == User.id)
                        .where(TaskSigner.task_id == task.id)
                        .order_by(col(TaskSigner.position))
                    )
                )
        return PlanView(
            plan=plan,
            org=org,
            state_title=workflow.state(plan.state).title,
            sections=_children(session, PlanSection, plan_id),
            goals=_children(session, Goal, plan_id),
            items=_children(session, MonthlyItem, plan_id),
            tasks=tasks,
            signers=signers,
            possible=possible_now(
                Transaction.of(session),
                plan_id=plan_id,
                state=plan.state,
                workflow=workflow,
                user=find_user(Transaction.of(session), actor),
                roles=roles,
            ),
            returned=last_return(session, plan_id=plan_id, state=plan.state, workflow=workflow),
        )


def list_plans(
    rt: Runtime, *, actor: str, year: int | None = None, state: str | None = None, limit: int = 200
) -> list[tuple[Plan, Organisation]]:
    """Plans the actor's roles reach, newest first; `state` is a state's name or its title."""
    with rt.database.session() as session:
        user = find_user(Transaction.of(session), actor)
        assert user.id is not None
        reach = reachable_orgs(session, user)
        if not reach:
            return []
        query = select(Plan, Organisation).join(Organisation).where(col(Plan.org_id).in_(reach))
        if year is not None:
            query = query.where(Plan.year == year)
        if state is not None:
            query = query.where(col(Plan.state).in_(_state_names(rt, session, state)))
        rows = session.exec(query.order_by(col(Plan.id).desc()).limit(limit))
        held = roles_of(Transaction.of(session), user.id)
        tx = Transaction.of(session)
        paths: dict[int, list[int]] = {}
        visible = []
        for plan, org in rows:
            path = paths.get(plan.org_id) or paths.setdefault(
                plan.org_id, org_path(tx, plan.org_id)
            )
            template = workflow_by_id(rt, session, plan.template_id).template
            if roles_covering(template.roles, held, user.org_id, path):
                visible.append((plan, org))
        return visible


def _state_names(rt: Runtime, session: Session, wanted: str) -> set[str]:
    """The state names `wanted` stands for in the loaded templates: a name, or a title (草稿).

    A word that is neither is refused rather than answered with an empty list.
    """
    wanted = wanted.strip()
    names: set[str] = set()
    known: dict[str, str] = {}  # every name and title → its name, in the order written
    for record in session.exec(select(TemplateRecord).order_by(col(TemplateRecord.id))):
        for state in workflow_for(rt, record).template.states.values():
            known.setdefault(state.name, state.name)
            known.setdefault(state.title, state.name)
            if wanted in (state.name, state.title):
                names.add(state.name)
    if not names:
        listing = ", ".join(dict.fromkeys(known.values())) or "none (no template loaded)"
        hint = did_you_mean(wanted, known) or f"; states: {listing}"
        raise NotFound(f"no state {wanted!r} in the loaded templates{hint}")
    return names


def plan_history(rt: Runtime, *, plan_id: int, actor: str) -> list[HistoryEntry]:
    with rt.database.session() as session:
        _visible_plan(rt, session, plan_id, actor)
        rows = session.exec(
            select(AuditEvent, User)
            .join(User, col(User.id) == AuditEvent.actor_id, isouter=True)
            .where(AuditEvent.plan_id == plan_id)
            .order_by(col(AuditEvent.id))
        )
        return [
            HistoryEntry(
                event=e, actor=u.name if u else "system", actor_username=u.username if u else None
            )
            for e, u in rows
        ]


def reachable_orgs(session: Session, user: Person) -> set[int]:
    """Every organisation the user's grants could reach (the template scopes then decide)."""
    roles = session.exec(select(RoleGrant.role).where(RoleGrant.user_id == user.id)).all()
    if not roles:
        return set()
    children: dict[int | None, list[int]] = {}
    for org_id, parent_id in session.exec(select(Organisation.id, Organisation.parent_id)):
        children.setdefault(parent_id, []).append(org_id or 0)
    reach, frontier = {user.org_id}, [user.org_id]
    while frontier:
        below = children.get(frontier.pop(), [])
        reach.update(below)
        frontier.extend(below)
    return reach


def _amend_items(ctx: WriteContext, spec: PlanSpec) -> dict[str, Any]:
    """Apply a live plan's new item list; returns what changed, for the audit row."""
    session, plan_id = ctx.session, ctx.plan_id
    unchanged = _locked_parts_that_differ(session, ctx.plan, spec)
    if unchanged:
        raise ActionRefused(
            f"while plan #{plan_id} is {ctx.workflow.state(ctx.plan.state).title} only its monthly "
            f"items can change; the file also changes its {', '.join(unchanged)}"
        )
    current = {(item.month, item.title): item for item in _children(session, MonthlyItem, plan_id)}
    wanted = {(item.month, item.title) for item in spec.items}
    removed = [item for key, item in current.items() if key not in wanted]
    started = _items_with_history(session, [item.id for item in removed if item.id is not None])
    blocked = [
        f"{item.month}月 {item.title}" for item in removed if item.id in started or item.status
    ]
    if blocked:
        raise ActionRefused(
            f"cannot remove {', '.join(blocked)}: reminders for it already went out or it was "
            "reported; keep it in the plan and report it (e.g. as not done) instead"
        )
    changed = added = 0
    for position, item in enumerate(spec.items, 1):
        row = current.get((item.month, item.title))
        if row is None:
            added += 1
            session.add(_new_item(plan_id, position, item))
            continue
        changed += (row.detail, row.due_day) != (item.detail, item.due_day)
        row.position, row.detail, row.due_day = position, item.detail, item.due_day
        session.add(row)
    cancelled = _detach_reminders(session, removed, "removed from the plan")
    for gone in removed:
        session.delete(gone)
    session.flush()
    plan_reminders(ctx)
    detail: dict[str, Any] = {"added": added, "changed": changed, "removed": len(removed)}
    if removed:
        detail["removed_items"] = [f"{item.month}月 {item.title}" for item in removed]
        detail["cancelled_reminders"] = cancelled
    return detail


def _detach_reminders(session: Session, items: list[MonthlyItem], why: str) -> int:
    """Keep the reminders of items about to be deleted; returns how many were cancelled.

    Reminder rows are never deleted: those not sent yet are cancelled, and every one says in its
    reason which item it was about (month and title), since the item's row goes. Its key gets the
    reminder's id appended, so an item that later gets the same id (SQLite reuses the highest)
    plans its own reminders under the old keys without colliding.
    """
    by_id = {item.id: item for item in items if item.id is not None}
    if not by_id:
        return 0
    cancelled = 0
    for reminder in session.exec(select(Reminder).where(col(Reminder.item_id).in_(by_id))):
        assert reminder.item_id is not None
        item = by_id[reminder.item_id]
        note = f"its item {item.month}月 {item.title} was {why}"
        if reminder.status in (ReminderStatus.PLANNED, ReminderStatus.FAILED):
            reminder.status = ReminderStatus.CANCELLED
            reminder.last_error = note
            cancelled += 1
        else:
            reminder.last_error = f"{reminder.last_error}; {note}" if reminder.last_error else note
        reminder.item_id = None
        reminder.key = f"{reminder.key}:removed:{reminder.id}"
        session.add(reminder)
    session.flush()
    return cancelled


def _locked_parts_that_differ(session: Session, plan: PlanRecord, spec: PlanSpec) -> list[str]:
    """Which of title, sections and goals `spec` would change (they are fixed once approved)."""
    sections = [(s.heading, s.body) for s in _children(session, PlanSection, plan.id)]
    goals = [
        (g.key, g.title, g.target, g.unit, g.comparator, g.allow_negative)
        for g in _children(session, Goal, plan.id)
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


def _items_with_history(session: Session, item_ids: list[int]) -> set[int]:
    """Items some reminder of which was already handled (sent, queued, skipped, missed, …)."""
    if not item_ids:
        return set()
    untouched = (ReminderStatus.PLANNED, ReminderStatus.CANCELLED)
    return {
        item_id
        for item_id in session.exec(
            select(Reminder.item_id).where(
                col(Reminder.item_id).in_(item_ids), col(Reminder.status).not_in(untouched)
            )
        )
        if item_id is not None
    }


def _replace_content(session: Session, plan_id: int, spec: PlanSpec) -> None:
    for table in (PlanSection, Goal, MonthlyItem):
        session.exec(delete(table).where(col(table.plan_id) == plan_id))
    for position, section in enumerate(spec.sections, 1):
        session.add(
            PlanSection(
                plan_id=plan_id, position=position, heading=section.heading, body=section.body
            )
        )
    for position, goal in enumerate(spec.goals, 1):
        session.add(
            Goal(
                plan_id=plan_id,
                position=position,
                key=goal.key,
                title=goal.title,
                target=float(goal.target),
                unit=goal.unit,
                comparator=goal.comparator.value,
                allow_negative=goal.allow_negative,
            )
        )
    for position, item in enumerate(spec.items, 1):
        session.add(_new_item(plan_id, position, item))


def _new_item(plan_id: int, position: int, item: ItemSpec) -> MonthlyItem:
    return MonthlyItem(
        plan_id=plan_id,
        position=position,
        month=item.month,
        title=item.title,
        detail=item.detail,
        due_day=item.due_day,
    )


def _children(session: Session, table: type[Child], plan_id: int) -> list[Child]:
    return list(
        session.exec(select(table).where(table.plan_id == plan_id).order_by(col(table.position)))
    )


def _named(source: str, key: str, find: Callable[[], Found]) -> Found:
    """Run a lookup for a plan file's field, so a miss names the file and the key."""
    try:
        return find()
    except NotFound as error:
        raise NotFound(f"{source}: {key}: {error.message}") from None
