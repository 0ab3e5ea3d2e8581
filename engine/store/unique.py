"""Inserting a row whose unique key may already be taken (store-private).

Asking first would still leave the race between two transactions creating the same thing, so the
insert itself is the test: it runs in a savepoint, which lets the transaction go on after the
refusal (PostgreSQL would otherwise abort it whole), and the caller learns "taken" as None.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.base import Executable

from engine.store.driver import Transaction


def insert_unless_taken(tx: Transaction, insert: Executable, values: dict[str, Any]) -> int | None:
    """The new row's id (`insert` returns it), or None when a unique key refuses the row."""
    try:
        with tx.connection.begin_nested():
            row_id: int = tx.execute(insert, values).scalar_one()
    except sa.exc.IntegrityError:
        return None
    return row_id
