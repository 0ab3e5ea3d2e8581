"""The database adapter: engines, sessions, write transactions and the per-dialect row lock.

SQLite (the embedded default) runs every transaction as `BEGIN IMMEDIATE`, taking the write lock
up front: pysqlite's default deferred BEGIN lets two writers both read a plan and then fail or
overwrite at commit. WAL mode keeps readers going meanwhile, and `busy_timeout` makes writers
queue instead of failing at once. PostgreSQL locks the plan row with `SELECT … FOR UPDATE`.
Plan writes run in `write()`, whose statements go to the driver's cursor (`driver.py`); reads
and everything else use `session()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import Session

from engine.core.errors import ConfigurationError
from engine.store import statements
from engine.store.driver import Transaction
from engine.store.statements import PlanRecord

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that our BEGIN below is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # On the driver itself: through `exec_driver_sql` this one statement cost a plan write
        # about a tenth of its time (see `driver.py`).
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, with our SQLite settings when it is SQLite."""
    try:
        engine = sa.create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigurationError(f"PLANFLOW_DATABASE_URL {url!r} is not usable: {error}") from None
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(engine)
    return engine


class Database:
    """One engine, and the sessions and write transactions made from it."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A plan write's transaction (`driver.py`): committed on success, else rolled back.

        What its session holds, if it made one, is flushed before the commit.
        """
        with self.engine.connect() as connection, connection.begin():
            tx = Transaction(connection)
            try:
                yield tx
                tx.flush()
            finally:
                tx.close()

    def lock_plan(self, tx: Transaction, plan_id: int) -> PlanRecord | None:
        """Load a plan for update. On SQLite the IMMEDIATE transaction already serialises."""
        query = statements.PLAN_ROW if self.is_sqlite else statements.PLAN_ROW_FOR_UPDATE
        row = tx.execute(query, {"plan_id": plan_id}).first()
        return PlanRecord(*row) if row is not None else None

    def dispose(self) -> None:
        self.engine.dispose()
