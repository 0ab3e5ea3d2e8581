"""The database adapter: engines, sessions, write transactions and the per-dialect row lock.

SQLite (the embedded default) runs every transaction as `BEGIN IMMEDIATE`, taking the write lock
up front: pysqlite's default deferred BEGIN lets two writers both read a plan and then fail or
overwrite at commit. WAL mode keeps readers going meanwhile, and `busy_timeout` makes writers
queue instead of failing at once. PostgreSQL locks the plan row with `SELECT … FOR UPDATE`.
Both waits are bounded by one setting (`PLANFLOW_LOCK_TIMEOUT_SECONDS`): SQLite's `busy_timeout`
and PostgreSQL's `lock_timeout`, set once per connection; `is_lock_timeout` recognises either
database's refusal, which the write path answers as `PlanBusy`.
Every unit of work is one `Transaction` (`transaction()` to write, `read()` to read), whose
statements go to the driver's cursor (`driver.py`). What the database refuses in a write comes
out as the domain's errors, never a driver's traceback: a value it will not store is an
`ActionRefused`, an idempotency key another request took first a `Conflict`, and a plan's lock
waited out a `PlanBusy`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import Session

from engine.core.errors import ActionRefused, ConfigurationError, Conflict, PlanBusy, first_line
from engine.store.driver import Transaction

DEFAULT_LOCK_TIMEOUT_SECONDS = 10.0
READ_ONLY = "planflow_read_only"  # execution option: this connection only reads
POSTGRES_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a `lock_timeout` that ran out


def is_lock_timeout(error: sa.exc.DBAPIError) -> bool:
    """Whether the database gave up waiting for a lock another transaction holds."""
    if getattr(error.orig, "sqlstate", None) == POSTGRES_LOCK_NOT_AVAILABLE:
        return True
    # SQLite reports its `busy_timeout` running out as SQLITE_BUSY, "database is locked".
    return isinstance(error, sa.exc.OperationalError) and "database is locked" in str(error.orig)


def _refusal(
    error: sa.exc.DBAPIError, *, plan_id: int | None, idempotency_key: str | None
) -> Exception | None:
    """The domain's error for what the database refused in a write, or None: not ours to name."""
    if plan_id is not None and is_lock_timeout(error):
        return PlanBusy(plan_id)
    if isinstance(error, sa.exc.IntegrityError) and "idempotency_key" in str(error.orig):
        # Two requests racing with one key on different plans: the loser gets a Conflict.
        if idempotency_key is None:
            return Conflict(
                "this idempotency key was already used for another request",
                code="idempotency.key_reused",
            )
        return Conflict(
            "idempotency key {key!r} was already used for another request",
            code="idempotency.key_reused",
            key=idempotency_key,
        )
    if isinstance(error, sa.exc.DataError):
        # Validation in the core (`engine.core.limits`) keeps plan files, comments and notes
        # within what both databases hold; this catches what still gets through.
        return ActionRefused(
            "the database refused the change: {reason}",
            code="database.refused",
            reason=first_line(error.orig),
            plan_id=plan_id,
        )
    return None


def _prepare_postgresql(engine: Engine, lock_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Once per connection, so that no write pays a round trip for it; the pool's reset
        # (a rollback) keeps session settings.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
        dbapi_connection.commit()


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that our BEGIN below is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # On the driver itself: through `exec_driver_sql` this one statement cost a plan write
        # about a tenth of its time (see `driver.py`).
        driver = connection.connection.driver_connection
        # A reader that asks for it (READ_ONLY) starts deferred: in WAL mode it then reads
        # beside a writer instead of queueing behind it.
        begin = "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        try:
            driver.execute(begin)  # type: ignore[union-attr]
        except sqlite3.Error as error:  # as SQLAlchemy raises it, e.g. the busy_timeout ran out
            raise sa.exc.DBAPIError.instance(
                begin, None, error, sqlite3.Error, dialect=connection.dialect
            ) from error


def make_engine(
    url: str, *, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS, **kwargs: Any
) -> Engine:
    """An engine for `url`, with our SQLite settings when it is SQLite, and lock waits bounded."""
    try:
        engine = sa.create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigurationError(
            "PLANFLOW_DATABASE_URL {url!r} is not usable: {reason}",
            code="configuration.database_url",
            url=url,
            reason=str(error),
        ) from None
    lock_timeout_ms = max(1, round(lock_timeout_seconds * 1000))
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(engine, lock_timeout_ms)
    elif engine.dialect.name == "postgresql":
        _prepare_postgresql(engine, lock_timeout_ms)
    return engine


class Database:
    """One engine, and the sessions and write transactions made from it."""

    def __init__(
        self,
        url: str,
        *,
        lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.engine = make_engine(url, lock_timeout_seconds=lock_timeout_seconds, **engine_kwargs)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error.

        For tests and tools that look at the tables themselves; the service never has one (it
        works through the store's functions, `tests/test_store_boundary.py`).
        """
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def transaction(
        self, *, plan_id: int | None = None, idempotency_key: str | None = None
    ) -> Iterator[Transaction]:
        """One unit of work that may write: committed on success, else rolled back.

        On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`). What its session holds, if
        it made one, is flushed before the commit. A write to `plan_id` that waited out the lock
        timeout raises `PlanBusy`; a reused `idempotency_key`, a `Conflict`; a value the database
        will not store, `ActionRefused` (see the module doc). Nothing was written then.
        """
        try:
            with self.engine.connect() as connection, connection.begin():
                tx = Transaction(connection)
                try:
                    yield tx
                    tx.flush()
                finally:
                    tx.close()
        except sa.exc.DBAPIError as error:
            refusal = _refusal(error, plan_id=plan_id, idempotency_key=idempotency_key)
            if refusal is None:
                raise
            raise refusal from None

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """One unit of work that only reads: on SQLite it reads beside a writer (deferred BEGIN)
        instead of queueing behind it; it is rolled back at the end, so nothing it did stays."""
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            connection.begin()
            tx = Transaction(connection)
            try:
                yield tx
            finally:
                tx.close()
                connection.rollback()

    @staticmethod
    def is_database_error(error: BaseException) -> bool:
        """Whether `error` came from the database or its driver (whose one line says enough),
        rather than from a bug (whose traceback is what someone needs)."""
        return isinstance(error, sa.exc.SQLAlchemyError)

    @staticmethod
    def cause_of(error: BaseException) -> BaseException:
        """The driver's own error inside SQLAlchemy's wrapping (which adds the statement and a
        link), or `error` itself."""
        return error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig else error

    def dispose(self) -> None:
        self.engine.dispose()
