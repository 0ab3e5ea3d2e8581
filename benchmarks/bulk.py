"""Writing benchmark data in bulk with PostgreSQL's COPY (psycopg), for the scripts that need a
database far larger than the service could fill in reasonable time (`dispatch.py`, `api.py`).

Only the data a benchmark reads is written this way; what it measures always goes through the
engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg


def one(cur: psycopg.Cursor[Any]) -> int:
    """The single integer the last statement answered."""
    row = cur.fetchone()
    assert row is not None
    value: int = row[0]
    return value


def copy_rows(cur: psycopg.Cursor[Any], target: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """COPY `rows` into `target`, a table with its column list: "plan (org_id, year, …)"; how
    many rows were written (`rows` may be a generator: nothing is held in memory)."""
    written = 0
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def copy_returning_ids(
    cur: psycopg.Cursor[Any], target: str, rows: Iterable[tuple[Any, ...]]
) -> list[int]:
    """COPY `rows` into `target` and return their new ids, in the same order (ids come from one
    sequence, in the order COPY inserts, and nobody else writes meanwhile)."""
    table = target.split(" ", 1)[0]
    cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    before = one(cur)
    written = copy_rows(cur, target, rows)
    cur.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", [before])
    ids = [r[0] for r in cur.fetchall()]
    assert len(ids) == written
    return ids
