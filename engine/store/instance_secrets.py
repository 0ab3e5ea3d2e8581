"""Secrets a deployment makes for itself once and shares through its database
(`instance_secret`), such as the session cookie's signing key when none is configured."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import InstanceSecret
from engine.store.unique import insert_unless_taken

_SECRET = table_of(InstanceSecret)
_GET = sa.select(_SECRET.c.value).where(_SECRET.c.name == sa.bindparam("name"))
_INSERT = sa.insert(_SECRET).returning(_SECRET.c.id)


def secret_named(tx: Transaction, *, name: str) -> str | None:
    value = tx.execute(_GET, {"name": name}).scalar()
    return str(value) if value is not None else None


def keep_secret(tx: Transaction, *, name: str, value: str) -> str:
    """Store `value` under `name` unless another process stored one first; the kept one."""
    insert_unless_taken(tx, _INSERT, {"name": name, "value": value}, key=("name",))
    kept = secret_named(tx, name=name)
    assert kept is not None
    return kept
