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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlmodel import Session

from engine.core.audit_chain import CLOCK_TOLERANCE, AuditContent, detail_json, row_hash
from engine.core.errors import (
    ActionRefused,
    ConfigurationError,
    Conflict,
    NotFound,
    PermissionDenied,
    PlanBusy,
    first_line,
)
from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.template.model import Template
from engine.service.directory import find_user_with_roles, org_path, roles_of
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store import statements
from engine.store.database import is_lock_timeout
from engine.store.driver import Transaction
from engine.store.people import Person
from engine.store.plans import PlanRecord, lock_plan, save_plan

_AUDIT_FIELDS = tuple(field.name for field in fields(AuditContent))


@dataclass
class WriteContext:
    """What a change may use; it mutates `plan` and writes through `tx`, never commits."""

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

    @property
    def session(self) -> Session:
        """An ORM session in the write's transaction, for changes that work with objects."""
        return self.tx.session


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


def require_owner(ctx: WriteContext, what: str) -> None:
    if not ctx.actor_roles & owner_roles(ctx.workflow.template):
        needed = ", ".join(sorted(owner_roles(ctx.workflow.template)))
        raise PermissionDenied(f"only the plan's owners ({needed}) may {what}")


def write_plan(
    rt: Runtime,
    *,
    plan_id: int,
    actor: str | None,
    request: dict[str, Any],
    change: Callable[[WriteContext], Change],
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Apply `change` to the plan in one transaction with its audit row (see module doc)."""
    request_hash = request_fingerprint({"plan": plan_id, "actor": actor, **request})
    with (
        plan_busy(plan_id),
        refused_by_database(),
        idempotency_conflicts(idempotency_key),
        rt.database.write() as tx,
    ):
        plan = lock_plan(tx, plan_id=plan_id)
        if plan is None:
            raise NotFound(f"no plan #{plan_id}")
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
    if user is not None and not roles:
        raise NotFound(f"no plan #{plan.id}")  # out of scope: do not reveal that it exists
    if expected_version is not None and plan.version != expected_version:
        raise Conflict(
            f"plan #{plan.id} changed since you loaded it (you saw version {expected_version}, "
            f"it is now {plan.version}); reload it and decide again"
        )
    ctx = WriteContext(rt, tx, plan, workflow, path, user, roles, rt.now())
    # Changes read with plain statements, which do not flush the session: make what the caller
    # added through it (a new plan's content) visible to them.
    tx.flush()
    done = change(ctx)
    plan.version += 1
    plan.updated_at = ctx.now
    tx.flush()  # what the change left pending in the session: sections, goals, items, reports
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
    last = tx.execute(statements.LAST_AUDIT, {"plan_id": plan.id}).first()
    prev_hash = last.row_hash if last is not None else None
    if last is not None and last.at - ctx.now > CLOCK_TOLERANCE:
        raise ConfigurationError(
            f"plan #{plan.id}'s last recorded event is dated {last.at:%Y-%m-%d %H:%M} UTC, after "
            f"this process's time ({ctx.now.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC): its clock is "
            "behind, or PLANFLOW_REHEARSAL_TIME was used on this database; nothing was written"
        )
    tx.execute(
        statements.INSERT_AUDIT,
        {
            **{name: getattr(audit, name) for name in _AUDIT_FIELDS},
            "prev_hash": prev_hash,
            "row_hash": row_hash(audit, prev_hash),
        },
    )
    return WriteResult(
        plan_id=plan.id,
        action=done.action,
        from_state=done.from_state,
        to_state=done.to_state,
        version=plan.version,
        detail=done.detail,
    )


@contextmanager
def plan_busy(plan_id: int) -> Iterator[None]:
    """A lock wait that ran out (`PLANFLOW_LOCK_TIMEOUT_SECONDS`) is a named, retryable conflict.

    The transaction was rolled back, so nothing was written.
    """
    try:
        yield
    except DBAPIError as error:
        if is_lock_timeout(error):
            raise PlanBusy(plan_id) from None
        raise


@contextmanager
def idempotency_conflicts(key: str | None) -> Iterator[None]:
    """Two requests racing with one key on different plans: the loser gets a Conflict."""
    try:
        yield
    except IntegrityError as error:
        if key is not None and "idempotency_key" in str(error.orig):
            raise Conflict(
                f"idempotency key {key!r} was already used for another request"
            ) from None
        raise


@contextmanager
def refused_by_database() -> Iterator[None]:
    """A value the database will not store is a refusal in one line, never a traceback.

    Validation in the core (`engine.core.limits`) keeps plan files, comments and notes within what
    both databases hold; this catches what still gets through (a `PlanSpec` built by code).
    """
    try:
        yield
    except DataError as error:
        raise ActionRefused(f"the database refused the change: {first_line(error.orig)}") from None


def find_replay(tx: Transaction, key: str, request_hash: str) -> WriteResult | None:
    """The first outcome of an earlier request with this key; a different request is a Conflict."""
    event = tx.execute(statements.AUDIT_BY_KEY, {"key": key}).first()
    if event is None:
        return None
    if event.request_hash != request_hash:
        raise Conflict(f"idempotency key {key!r} was already used for a different request")
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
