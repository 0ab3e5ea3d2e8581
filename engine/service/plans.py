"""Changing a plan's content: create it from a plan file, edit it (in its initial state), or amend
the monthly items of a live plan. Reading plans is `plan_views.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from engine.core.errors import ActionRefused, AlreadyExists, NotFound, PermissionDenied
from engine.core.i18n import Message
from engine.core.planfile import PlanSpec
from engine.service.directory import find_org, find_user, org_path
from engine.service.runtime import Runtime
from engine.service.steps import enter_state, plan_reminders
from engine.service.templates import find_template, workflow_by_id
from engine.service.writes import (
    Change,
    WriteContext,
    WriteResult,
    find_replay,
    owner_roles,
    record_write,
    request_fingerprint,
    require_owner,
    roles_in_scope,
    write_plan,
)
from engine.store import Transaction
from engine.store.people import Org, org_by_id
from engine.store.plan_content import (
    Item,
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
from engine.store.plans import PlanRecord, insert_plan, plan_holding
from engine.store.statuses import ReminderStatus

Found = TypeVar("Found")


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
    with rt.database.transaction(idempotency_key=idempotency_key) as tx:
        if idempotency_key is not None:
            earlier = find_replay(tx, idempotency_key, request_hash)
            if earlier is not None:
                return earlier
        user = find_user(tx, actor)
        org = _named(source, "org", lambda: find_org(tx, spec.org))
        record = _named(
            source,
            "template",
            lambda: find_template(tx, spec.template_name, spec.template_version),
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
        require_owner(ctx, Message.of("edit it"))
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
        ctx.update_plan(title=spec.title)
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
