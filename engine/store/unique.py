"""Inserting a row whose unique key may already be taken (store-private).

Asking first would still leave the race between two transactions creating the same thing, so the
insert itself is the test: it runs in a savepoint, which lets the transaction go on after the
refusal (PostgreSQL would otherwise abort it whole), and the caller learns "taken" as None. Only
the refusal of the named unique key means "taken": any other (a foreign key, another unique key)
is raised as it is.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.store.driver import Transaction


def insert_unless_taken(
    tx: Transaction, insert: sa.Insert, values: dict[str, Any], *, key: tuple[str, ...]
) -> int | None:
    """The new row's id (`insert` returns it), or None when the unique key over the columns `key`
    of its table refuses the row."""
    try:
        with tx.connection.begin_nested():
            row_id: int = tx.execute(insert, values).scalar_one()
    except sa.exc.IntegrityError as error:
        if not refused_by_key(error, table=insert.table.name, key=key):
            raise
        return None
    return row_id


def refused_by_key(error: sa.exc.IntegrityError, *, table: str, key: tuple[str, ...]) -> bool:
    """Whether the database refused a row for the unique key over `key` (the migrations leave
    these constraints unnamed): PostgreSQL names the constraint by its default name, SQLite by
    its columns."""
    text = str(error.orig)
    return f"{table}_{'_'.join(key)}_key" in text or (
        "UNIQUE constraint failed: " + ", ".join(f"{table}.{column}" for column in key) in text
    )
