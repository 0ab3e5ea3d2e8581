"""The audit log: each plan's hash-chained, append-only record of its writes.

A write reads the plan's newest row (to chain to it, under the plan's lock) and appends its own;
a repeated idempotency key finds the row its first request wrote; `returns` reads the newest
change of state; `audit verify` reads every chain and whether the database's guard is whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from engine.core.audit_chain import AuditContent, ChainedRow
from engine.store import audit_guard, statements
from engine.store.driver import Transaction

_CONTENT_FIELDS = tuple(field.name for field in fields(AuditContent))


@dataclass(frozen=True)
class AuditHead:
    """A plan's newest audit row, as the next one chains to it."""

    row_hash: str | None
    at: dt.datetime


@dataclass(frozen=True)
class KeyedAudit:
    """The outcome an idempotency key's first request recorded."""

    plan_id: int
    action: str
    from_state: str | None
    to_state: str | None
    plan_version: int
    request_hash: str | None
    detail: str | None  # JSON


@dataclass(frozen=True)
class StateChange:
    """A write that moved a plan from one state to another, and who made it."""

    at: dt.datetime
    action: str
    from_state: str
    to_state: str | None
    comment: str | None
    actor_name: str | None  # None: the system
    actor_username: str | None


def last_audit(tx: Transaction, *, plan_id: int) -> AuditHead | None:
    row = tx.execute(statements.LAST_AUDIT, {"plan_id": plan_id}).first()
    return AuditHead(row.row_hash, row.at) if row is not None else None


def append_audit(
    tx: Transaction, *, content: AuditContent, prev_hash: str | None, row_hash: str
) -> None:
    values = {name: getattr(content, name) for name in _CONTENT_FIELDS}
    tx.execute(statements.INSERT_AUDIT, {**values, "prev_hash": prev_hash, "row_hash": row_hash})


def audit_by_key(tx: Transaction, *, key: str) -> KeyedAudit | None:
    row = tx.execute(statements.AUDIT_BY_KEY, {"key": key}).first()
    return KeyedAudit(*row) if row is not None else None


def last_state_change(tx: Transaction, *, plan_id: int) -> StateChange | None:
    row = tx.execute(statements.LAST_STATE_CHANGE, {"plan_id": plan_id}).first()
    return StateChange(*row) if row is not None else None


def plan_versions(tx: Transaction, *, plan_id: int | None = None) -> dict[int, int]:
    """Each plan's version (or `plan_id`'s alone), by id."""
    query = statements.PLAN_VERSIONS
    if plan_id is not None:
        query = query.where(statements.PLAN_VERSIONS.selected_columns.id == plan_id)
    return {row.id: row.version for row in tx.connection.execute(query)}


def audit_chains(tx: Transaction, *, plan_id: int | None = None) -> dict[int, list[ChainedRow]]:
    """Each plan's audit rows in id order (or `plan_id`'s alone), as the chain check reads them."""
    query = statements.AUDIT_CHAIN_ROWS
    if plan_id is not None:
        query = query.where(query.selected_columns.plan_id == plan_id)
    chains: dict[int, list[ChainedRow]] = {}
    for row in tx.connection.execute(query):
        content = AuditContent(**{name: getattr(row, name) for name in _CONTENT_FIELDS})
        chains.setdefault(row.plan_id, []).append(
            ChainedRow(id=row.id, content=content, prev_hash=row.prev_hash, row_hash=row.row_hash)
        )
    return chains


def missing_audit_guards(tx: Transaction) -> list[str]:
    """The append-only triggers that are not installed (none when the guard is whole)."""
    return audit_guard.guards_missing(tx.connection)
