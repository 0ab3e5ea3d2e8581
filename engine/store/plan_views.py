"""What the read side shows of plans: a plan with its tasks and signers, listings, its audit trail,
the inbox's open tasks, and the organisation tree the listings reach through.

Every function only reads, in one `Database.read()` transaction (or a write's). Listings filter
by lists of organisations and states, which the driver path cannot send (`IN`), so they run as
Core on the transaction's connection; the rest goes to the driver's cursor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.core.limits import MAX_ROW_ID
from engine.store import statements
from engine.store.driver import Transaction
from engine.store.people import Org, Person
from engine.store.plan_content import _columns_of
from engine.store.plans import PlanRecord
from engine.store.statements import table_of
from engine.store.statuses import TaskStatus
from engine.store.tables import AuditEvent as _AuditTable
from engine.store.tables import Organisation as _OrgTable
from engine.store.tables import Plan as _PlanTable
from engine.store.tables import Task as _TaskTable
from engine.store.tables import TaskSigner as _SignerTable
from engine.store.tables import TemplateRecord as _TemplateTable
from engine.store.tables import User as _UserTable

_PLAN = table_of(_PlanTable)
_ORG = table_of(_OrgTable)
_USER = table_of(_UserTable)
_TASK = table_of(_TaskTable)
_SIGNER = table_of(_SignerTable)
_AUDIT = table_of(_AuditTable)
_TEMPLATE = table_of(_TemplateTable)


@dataclass(frozen=True)
class Task:
    """A task of a plan, open or closed (the `task` row)."""

    id: int
    plan_id: int
    state: str
    role: str
    org_id: int
    sign: str
    status: str
    opened_at: dt.datetime
    due_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_by: int | None
    outcome: str | None
    escalated_from: int | None


@dataclass(frozen=True)
class TaskSigner:
    """One signer of a countersigned task and their decision so far (the `task_signer` row)."""

    id: int
    task_id: int
    user_id: int
    position: int
    decision: str | None
    decided_at: dt.datetime | None
    comment: str | None


@dataclass(frozen=True)
class AuditEvent:
    """One row of a plan's audit trail (the `audit_event` row)."""

    id: int
    plan_id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    from_state: str | None
    to_state: str | None
    comment: str | None
    plan_version: int
    idempotency_key: str | None
    request_hash: str | None
    detail: str | None  # JSON
    prev_hash: str | None
    row_hash: str | None


@dataclass(frozen=True)
class PlanEvent:
    """An audit row and who acted: a person, or None for the system."""

    event: AuditEvent
    actor: Person | None


_PERSON = [_USER.c[name] for name in ("id", "username", "name", "org_id", "email", "active")]
_ORG_FIELDS = [_ORG.c.id, _ORG.c.code, _ORG.c.name, _ORG.c.parent_id]
_PLAN_FIELDS = _columns_of(_PLAN, PlanRecord)
_TASK_FIELDS = _columns_of(_TASK, Task)

_TASKS = (
    sa.select(*_TASK_FIELDS).where(_TASK.c.plan_id == bindparam("plan_id")).order_by(_TASK.c.id)
)
_SIGNERS = (
    sa.select(*_PERSON, *_columns_of(_SIGNER, TaskSigner))
    .join(_USER, _USER.c.id == _SIGNER.c.user_id)
    .where(_SIGNER.c.task_id == bindparam("task_id"))
    .order_by(_SIGNER.c.position)
)
_EVENTS = (
    sa.select(*_columns_of(_AUDIT, AuditEvent), *_PERSON)
    .outerjoin(_USER, _USER.c.id == _AUDIT.c.actor_id)
    .where(_AUDIT.c.plan_id == bindparam("plan_id"))
    .order_by(_AUDIT.c.id)
)
_VERSION_EVENT = (
    sa.select(_AUDIT.c.id)
    .where(_AUDIT.c.plan_id == bindparam("plan_id"), _AUDIT.c.plan_version == bindparam("version"))
    .order_by(_AUDIT.c.id)
    .limit(1)
)
_LAST_EVENT_AT = sa.select(sa.func.max(_AUDIT.c.at))
_ORG_PARENTS = sa.select(_ORG.c.id, _ORG.c.parent_id)
_TEMPLATE_IDS = sa.select(_TEMPLATE.c.id).order_by(_TEMPLATE.c.id)


def _person(values: Sequence[Any]) -> Person:
    # The driver hands SQLite's booleans back as the integers it stores.
    id_, username, name, org_id, email, active = values
    return Person(id_, username, name, org_id, email, bool(active))


def plan_by_id(tx: Transaction, *, plan_id: int) -> PlanRecord | None:
    """The plan's row as it is, without locking it (`plans.lock_plan` is for writes)."""
    if not 1 <= plan_id <= MAX_ROW_ID:
        return None
    row = tx.execute(statements.PLAN_ROW, {"plan_id": plan_id}).first()
    return PlanRecord(*row) if row is not None else None


def tasks_of(tx: Transaction, *, plan_id: int) -> list[Task]:
    """The plan's tasks, open and closed, oldest first."""
    return [Task(*row) for row in tx.execute(_TASKS, {"plan_id": plan_id})]


def signers_of(tx: Transaction, *, task_id: int) -> list[tuple[Person, TaskSigner]]:
    """A countersigned task's signers, in signing order, each with the person."""
    split = len(_PERSON)
    return [
        (_person(row[:split]), TaskSigner(*row[split:]))
        for row in tx.execute(_SIGNERS, {"task_id": task_id})
    ]


def plan_events(tx: Transaction, *, plan_id: int) -> list[PlanEvent]:
    """The plan's audit trail, oldest first, each row with who acted."""
    split = len(_columns_of(_AUDIT, AuditEvent))
    found = []
    for row in tx.execute(_EVENTS, {"plan_id": plan_id}):
        person = _person(row[split:]) if row[split] is not None else None
        found.append(PlanEvent(event=AuditEvent(*row[:split]), actor=person))
    return found


def version_event_id(tx: Transaction, *, plan_id: int, version: int) -> int | None:
    """The id of the audit row that recorded `version` of the plan (None: no such row)."""
    found: int | None = tx.connection.execute(
        _VERSION_EVENT, {"plan_id": plan_id, "version": version}
    ).scalar()
    return found


def last_event_at(tx: Transaction) -> dt.datetime | None:
    """When the newest audit row of any plan was written; None on an empty database."""
    moment: dt.datetime | None = tx.connection.execute(_LAST_EVENT_AT).scalar()
    return moment


def org_parents(tx: Transaction) -> dict[int, int | None]:
    """Every organisation's parent (None at the root)."""
    return {row.id: row.parent_id for row in tx.execute(_ORG_PARENTS)}


def template_ids(tx: Transaction) -> list[int]:
    """The ids of every loaded template version, in loading order."""
    return tx.execute(_TEMPLATE_IDS).scalars()


def plans_at(
    tx: Transaction,
    *,
    org_ids: Collection[int],
    year: int | None = None,
    states: Collection[str] | None = None,
    template_names: Collection[str] | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[tuple[PlanRecord, Org]]:
    """The plans of these organisations, each with its organisation, by id."""
    if not org_ids:
        return []
    query = (
        sa.select(*_PLAN_FIELDS, *_ORG_FIELDS)
        .join(_ORG, _ORG.c.id == _PLAN.c.org_id)
        .where(_PLAN.c.org_id.in_(list(org_ids)))
    )
    if year is not None:
        query = query.where(_PLAN.c.year == year)
    if states is not None:
        query = query.where(_PLAN.c.state.in_(list(states)))
    if template_names is not None:
        query = query.where(_PLAN.c.template_name.in_(list(template_names)))
    query = query.order_by(_PLAN.c.id.desc() if newest_first else _PLAN.c.id)
    if limit is not None:
        query = query.limit(limit)
    split = len(_PLAN_FIELDS)
    return [(PlanRecord(*row[:split]), Org(*row[split:])) for row in tx.connection.execute(query)]


def open_tasks_for(
    tx: Transaction, *, org_id: int, roles: Collection[str]
) -> list[tuple[Task, PlanRecord, Org]]:
    """The open tasks for these roles at one organisation, each with its plan and the plan's
    organisation."""
    if not roles:
        return []
    query = (
        sa.select(*_TASK_FIELDS, *_PLAN_FIELDS, *_ORG_FIELDS)
        .join(_PLAN, _PLAN.c.id == _TASK.c.plan_id)
        .join(_ORG, _ORG.c.id == _PLAN.c.org_id)
        .where(
            _TASK.c.status == TaskStatus.OPEN.value,
            _TASK.c.org_id == org_id,
            _TASK.c.role.in_(list(roles)),
        )
    )
    task_end = len(_TASK_FIELDS)
    plan_end = task_end + len(_PLAN_FIELDS)
    rows: Sequence[Any] = tx.connection.execute(query).all()
    return [
        (Task(*row[:task_end]), PlanRecord(*row[task_end:plan_end]), Org(*row[plan_end:]))
        for row in rows
    ]


def waiting_signers(tx: Transaction, *, task_ids: Collection[int]) -> dict[int, list[int]]:
    """Per countersigned task, the user ids of the signers yet to decide, in signing order."""
    waiting: dict[int, list[int]] = {}
    if not task_ids:
        return waiting
    query = (
        sa.select(_SIGNER.c.task_id, _SIGNER.c.user_id)
        .where(_SIGNER.c.task_id.in_(list(task_ids)), _SIGNER.c.decision.is_(None))
        .order_by(_SIGNER.c.task_id, _SIGNER.c.position)
    )
    for task_id, user_id in tx.connection.execute(query):
        waiting.setdefault(task_id, []).append(user_id)
    return waiting


def signing_progress(tx: Transaction, *, task_ids: Collection[int]) -> dict[int, tuple[int, int]]:
    """Per countersigned task, (signers who have approved, signers asked): "2/3 已同意"."""
    progress: dict[int, tuple[int, int]] = {}
    if not task_ids:
        return progress
    query = (
        sa.select(
            _SIGNER.c.task_id,
            sa.func.count(_SIGNER.c.decision),
            sa.func.count(),
        )
        .where(_SIGNER.c.task_id.in_(list(task_ids)))
        .group_by(_SIGNER.c.task_id)
    )
    for task_id, decided, asked in tx.connection.execute(query):
        progress[task_id] = (int(decided), int(asked))
    return progress
