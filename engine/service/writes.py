"""The one way a plan changes: `write_plan`.

Every write — an action, an edit, a year-end report — runs here, in one transaction: take the
plan's row lock, check the caller's scope and the version they saw, replay a repeated idempotency
key, apply the change, bump the plan's version and append the audit row. Either all of it lands or
none of it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from engine.core.audit_chain import CLOCK_TOLERANCE, AuditContent, detail_json, row_hash
from engine.core.errors import ConfigurationError, Conflict, NotFound, PermissionDenied
from engine.core.i18n import Message
from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.template.model import Template
from engine.service.directory import find_user_with_roles, org_path, roles_of
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store import Transaction
from engine.store.audit import append_audit, audit_by_key, last_audit
from engine.store.people import Person
from engine.store.plans import PlanRecord, lock_plan, save_plan

IDEMPOTENCY_KEY_REUSED = "idempotency.key_reused"


@dataclass
class WriteContext:
    """What a change may use: it writes through `tx` (never commits) and changes the plan's row
    with `update_plan`, which `record_write` then saves with the version bump."""

    rt: Runtime
    tx: Transaction
    plan: PlanRecord
    workflow: Workflow
    path: list[int]  # the plan's organisation, then its ancestors
    user: Person | None  # None: the system (timers)
    actor_roles: frozenset[str]  # the roles the user holds with this plan in scope
    now: dt.datetime

    @property
    def plan_id(self) -> int:
        return self.plan.id

    def update_plan(self, **changes: Any) -> None:
        """Change columns of the plan's row (`PlanRecord` fields); saved with the write."""
        self.plan = replace(self.plan, **changes)


@dataclass(frozen=True)
class Change:
    """What a write did, as the audit log records it."""

    action: str
    from_state: str
    to_state: str
    comment: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class WriteResult:
    plan_id: int
    action: str
    from_state: str
    to_state: str
    version: int
    replayed: bool = False  # True: an earlier request with the same idempotency key answered
    detail: dict[str, Any] | None = None


def roles_in_scope(template: Template, tx: Transaction, user: Person, path: list[int]) -> set[str]:
    """The template roles `user` holds whose scope covers a plan at `path`."""
    return roles_covering(template.roles, roles_of(tx, user.id), user.org_id, path)


def owner_roles(template: Template) -> set[str]:
    """Roles that may act on a plan in its initial state: the plan's owners (drafters)."""
    initial = template.initial_state.name
    return {role for t in template.transitions_from(initial) for role in t.roles}


def require_owner(ctx: WriteContext, what: Message) -> None:
    """Refuse unless the actor is one of the plan's owners; `what` names what they may do."""
    if not ctx.actor_roles & owner_roles(ctx.workflow.template):
        needed = ", ".join(sorted(owner_roles(ctx.workflow.template)))
        raise PermissionDenied(
            "only the plan's owners ({roles}) may {what}",
            code="plan.owners_only",
            roles=needed,
            what=what,
            plan_id=ctx.plan_id,
        )


def write_plan(
    rt: Runtime,
    *,
    plan_id: int,
    actor: str | None,
    request: dict[str, Any],
    change: Callable[[WriteContext], Change],
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    administered: bool = False,
) -> WriteResult:
    """Apply `change` to the plan in one transaction with its audit row (see module doc).

    `administered`: the caller has checked that the actor administers the plan's organisation
    (an administrator's operator write, such as a reminder retry); the actor is recorded without
    needing a role of the template."""
    request_hash = request_fingerprint({"plan": plan_id, "actor": actor, **request})
    with rt.database.transaction(plan_id=plan_id, idempotency_key=idempotency_key) as tx:
        plan = lock_plan(tx, plan_id=plan_id)
        if plan is None:
            raise NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)
        if idempotency_key is not None:
            earlier = find_replay(tx, idempotency_key, request_hash)
            if earlier is not None:
                return earlier
        return record_write(
            rt,
            tx,
            plan,
            actor=actor,
            change=change,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            expected_version=expected_version,
            administered=administered,
        )


def record_write(
    rt: Runtime,
    tx: Transaction,
    plan: PlanRecord,
    *,
    actor: str | None,
    change: Callable[[WriteContext], Change],
    idempotency_key: str | None,
    request_hash: str,
    expected_version: int | None = None,
    administered: bool = False,
) -> WriteResult:
    """The body of every write, inside the caller's transaction with the plan already locked."""
    workflow = workflow_by_id(rt, tx, plan.template_id)
    path = org_path(tx, plan.org_id)
    user, held = find_user_with_roles(tx, actor) if actor is not None else (None, [])
    roles = (
        frozenset(roles_covering(workflow.template.roles, held, user.org_id, path))
        if user
        else frozenset()
    )
    if user is not None and not roles and not administered:
        # Out of scope: do not reveal that it exists.
        raise NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan.id)
    if expected_version is not None and plan.version != expected_version:
        raise Conflict(
            "plan #{plan_id} changed since you loaded it (you saw version {expected_version}, "
            "it is now {actual_version}); reload it and decide again",
            code="plan.version_conflict",
            plan_id=plan.id,
            expected_version=expected_version,
            actual_version=plan.version,
        )
    ctx = WriteContext(rt, tx, plan, workflow, path, user, roles, rt.now())
    done = change(ctx)
    plan = replace(ctx.plan, version=ctx.plan.version + 1, updated_at=ctx.now)
    save_plan(tx, plan=plan)
    audit = AuditContent(
        plan_id=plan.id,
        plan_version=plan.version,
        actor_id=user.id if user else None,
        at=ctx.now,
        action=done.action,
        from_state=done.from_state,
        to_state=done.to_state,
        comment=done.comment,
        idempotency_key=idempotency_key,
        request_hash=request_hash if idempotency_key else None,
        detail=detail_json(done.detail),
    )
    # Under the plan's lock (taken by the caller), so no other write can chain to the same row.
    last = last_audit(tx, plan_id=plan.id)
    prev_hash = last.row_hash if last is not None else None
    if last is not None and last.at - ctx.now > CLOCK_TOLERANCE:
        raise ConfigurationError(
            "plan #{plan_id}'s last recorded event is dated {last_at:%Y-%m-%d %H:%M} UTC, after "
            "this process's time ({now:%Y-%m-%d %H:%M} UTC): its clock is behind, or "
            "PLANFLOW_REHEARSAL_TIME was used on this database; nothing was written",
            code="audit.clock_behind",
            plan_id=plan.id,
            last_at=last.at.astimezone(dt.UTC),
            now=ctx.now.astimezone(dt.UTC),
        )
    append_audit(tx, content=audit, prev_hash=prev_hash, row_hash=row_hash(audit, prev_hash))
    return WriteResult(
        plan_id=plan.id,
        action=done.action,
        from_state=done.from_state,
        to_state=done.to_state,
        version=plan.version,
        detail=done.detail,
    )


def find_replay(tx: Transaction, key: str, request_hash: str) -> WriteResult | None:
    """The first outcome of an earlier request with this key; a different request is a Conflict."""
    event = audit_by_key(tx, key=key)
    if event is None:
        return None
    if event.request_hash != request_hash:
        raise Conflict(
            "idempotency key {key!r} was already used for a different request",
            code="idempotency.request_differs",
            key=key,
            plan_id=event.plan_id,
        )
    return WriteResult(
        plan_id=event.plan_id,
        action=event.action,
        from_state=event.from_state or "",
        to_state=event.to_state or "",
        version=event.plan_version,
        replayed=True,
        detail=json.loads(event.detail) if event.detail else None,
    )


def request_fingerprint(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
