"""Statements on the database driver's own cursor: how plan writes reach the database.

SQLAlchemy still does everything but the last step. The statements are Core statements built from
the SQLModel tables (`statements.py`), compiled by SQLAlchemy for the engine's dialect once and
kept; the connection, its pool and its transaction (`BEGIN IMMEDIATE` on SQLite) are
SQLAlchemy's; errors are raised as SQLAlchemy's exception classes; and an ORM session on the same
connection is there for the store functions that want one (`Transaction.session`), kept
consistent with the statements by the `Transaction` itself. Only the execution
skips SQLAlchemy's per-call machinery: the compiled text goes straight to the DBAPI cursor.

Why: an action is a dozen small statements, and on SQLite running one cached Core statement
through a SQLAlchemy connection took about 50 µs against the driver's 2 µs, and an ORM session
another 150 µs per transaction; together they were most of an action's time
(`benchmarks/actions.py`).

What this leaves out, on purpose: expanding `IN` lists (compile-time text only; refused with a
clear error), and type processing other than `UtcDateTime`, the one column type the drivers do
not store as SQLAlchemy would by themselves. Values go in as Python values; times go in as
SQLAlchemy stores them (naive UTC text on SQLite) and come out aware, in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session

from engine.store.tables import UtcDateTime, as_utc, read_utc

Model = TypeVar("Model")
Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Compiled:
    text: str
    defaults: dict[str, Any]  # the statement's own values (`status = 'open'`), then the caller's
    time_params: tuple[str, ...]  # parameters stored through UtcDateTime
    row_type: Any  # a namedtuple class over the result's columns, or None
    time_columns: tuple[int, ...]  # result positions of UtcDateTime columns
    writes: bool  # INSERT, UPDATE or DELETE: objects a session holds may be stale after it


class Rows:
    """A statement's result, read as SQLAlchemy's: `.all()`, `.first()`, `.scalar()`, iteration.

    Rows are named tuples, so `row.id` reads as it does on a SQLAlchemy row.
    """

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


class StatementCompiler:
    """Compiles statements for one kind of dialect, once each, with named parameters."""

    _known: ClassVar[dict[type[Dialect], StatementCompiler]] = {}

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> StatementCompiler:
        compiler = cls._known.get(type(dialect))
        if compiler is None:
            compiler = cls._known[type(dialect)] = cls(dialect)
        return compiler

    def __init__(self, dialect: Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        # The drivers take a mapping with either `:name` (sqlite3) or `%(name)s` (psycopg);
        # pysqlite's own default is positional, so SQLite gets a dialect of the named style.
        if dialect.paramstyle in ("named", "pyformat"):
            self.dialect = dialect
        else:
            named_style: Any = type(dialect)
            self.dialect = named_style(paramstyle="named")
        self._cache: dict[tuple[int, frozenset[str] | None], tuple[ClauseElement, _Compiled]] = {}

    def compiled(self, statement: Executable, keys: Sequence[str]) -> _Compiled:
        # INSERT and UPDATE are compiled for the columns the caller gives, as SQLAlchemy does.
        dml = isinstance(statement, sa.Insert | sa.Update)
        key = (id(statement), frozenset(keys) if dml else None)
        found = self._cache.get(key)
        if found is None:
            assert isinstance(statement, ClauseElement)
            found = (statement, self._compile(statement, list(keys) if dml else None))
            self._cache[key] = found  # the statement is kept too, so its id stays its own
        return found[1]

    def _compile(self, statement: ClauseElement, column_keys: list[str] | None) -> _Compiled:
        compiled = statement.compile(dialect=self.dialect, column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)
        if "POSTCOMPILE" in compiled.string:
            raise TypeError(
                "a statement with an expanding IN list cannot run on the driver; compare with a "
                f"subquery or one value instead: {compiled.string}"
            )
        binds = compiled.binds
        given = set(column_keys or ())
        # The statement's own values (`status = 'open'`, `.values(last_error=None)`); a bare
        # `bindparam` is the caller's to give, and left out so that forgetting it is an error.
        defaults = {
            name: value
            for name, value in compiled.params.items()
            if name not in given and not (name in binds and binds[name].required)
        }
        time_params = tuple(
            name
            for name in compiled.params
            if name in binds and isinstance(binds[name].type, UtcDateTime)
        )
        columns = list(getattr(statement, "exported_columns", ()))
        row_type = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        time_columns = tuple(i for i, c in enumerate(columns) if isinstance(c.type, UtcDateTime))
        writes = isinstance(statement, sa.Insert | sa.Update | sa.Delete)
        return _Compiled(compiled.string, defaults, time_params, row_type, time_columns, writes)


class Transaction:
    """One transaction on one connection: statements on its driver cursor, a session on demand.

    The two paths see one database. Before a statement goes to the cursor, the session (if this
    transaction has one) is flushed, so the statement sees what was added through it; after a
    statement that writes, what the session holds is expired, so an object it loaded before is
    read again rather than believed. No caller flushes, and a row loaded through the session may
    be changed by a statement: both are this class's business, not a convention of its callers.
    A transaction without a session (every action) pays one attribute test for it.
    """

    def __init__(self, connection: sa.Connection, session: Session | None = None) -> None:
        self.connection = connection
        self._compiler = StatementCompiler.for_dialect(connection.dialect)
        self._sqlite = self._compiler.sqlite
        self._session = session
        self._cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._dbapi_error: type[Exception] = connection.dialect.loaded_dbapi.Error
        # SQLAlchemy's cursor events still fire, so statement counting, tracing and the like see
        # these statements too (a listener's return value is not used).
        events = connection.dispatch
        self._events = (
            (events.before_cursor_execute, events.after_cursor_execute)
            if events.before_cursor_execute or events.after_cursor_execute
            else None
        )
        # Per-transaction memo (organisation paths): what one transaction reads stays true in it.
        self.memo: dict[str, Any] = session.info if session is not None else {}

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    @property
    def session(self) -> Session:
        """An ORM session in this same transaction, made when first asked for (see the class doc
        for how it and the statements run here stay consistent)."""
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False)
            self._session.info.update(self.memo)
            self.memo = self._session.info
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def get(self, model: type[Model], ident: int) -> Model | None:
        """An ORM object by primary key, through the session (for the rare reads that want one)."""
        return self.session.get(model, ident)

    def execute(
        self, statement: Executable, params: Params | Sequence[Params] | None = None
    ) -> Rows:
        """Run `statement` with one mapping of parameters (or none), or many (an executemany)."""
        if params is None:
            params = {}
        many = not isinstance(params, Mapping)
        batch: Sequence[Params] = params if many else (params,)  # type: ignore[assignment]
        if not batch:
            return Rows([], 0)
        compiled = self._compiler.compiled(statement, list(batch[0]))
        bound = [self._bind(compiled, p) for p in batch]
        values: Any = bound if many else bound[0]
        session = self._session
        if session is not None:
            session.flush()  # returns at once when nothing is pending
        cursor = self._cursor
        if self._events is not None:
            self._events[0](self.connection, cursor, compiled.text, values, None, many)
        try:
            if many:
                cursor.executemany(compiled.text, values)
            else:
                cursor.execute(compiled.text, values)
            raw = cursor.fetchall() if cursor.description is not None else []
        except self._dbapi_error as error:
            raise self._error(compiled.text, values, error) from error
        if self._events is not None:
            self._events[1](self.connection, cursor, compiled.text, values, None, many)
        if session is not None and compiled.writes:
            session.expire_all()
        return Rows(self._rows(compiled, raw), cursor.rowcount)

    def execute_together(self, *calls: tuple[Executable, Params]) -> list[Rows]:
        """Run statements (one mapping of parameters each) in turn, as `execute` would, but in one
        round trip on PostgreSQL: psycopg's pipeline mode sends them all before waiting for the
        first result. For a short transaction whose statements do not depend on each other's
        results, the waits are most of its time. (psycopg still waits for the transaction's BEGIN
        on its own, before the first of them.) If one fails, those after it do not run, and it
        raises as `execute` would.
        """
        if self._sqlite or len(calls) < 2:  # in process, or one statement: nothing to save
            return [self.execute(statement, params) for statement, params in calls]
        prepared = []
        for statement, params in calls:
            compiled = self._compiler.compiled(statement, list(params))
            prepared.append((compiled, self._bind(compiled, params)))
        self.flush()
        driver = self._cursor.connection
        cursors = [driver.cursor() for _ in prepared]
        if self._events is not None:
            for cursor, (compiled, values) in zip(cursors, prepared, strict=True):
                self._events[0](self.connection, cursor, compiled.text, values, None, False)
        try:
            with driver.pipeline():
                for cursor, (compiled, values) in zip(cursors, prepared, strict=True):
                    cursor.execute(compiled.text, values)
            results = [
                Rows(
                    self._rows(compiled, cursor.fetchall() if cursor.description else []),
                    cursor.rowcount,
                )
                for cursor, (compiled, _) in zip(cursors, prepared, strict=True)
            ]
        except self._dbapi_error as error:
            texts = "; ".join(compiled.text for compiled, _ in prepared)
            raise self._error(texts, [values for _, values in prepared], error) from error
        finally:
            for cursor in cursors:
                cursor.close()
        if self._events is not None:
            for cursor, (compiled, values) in zip(cursors, prepared, strict=True):
                self._events[1](self.connection, cursor, compiled.text, values, None, False)
        if self._session is not None and any(compiled.writes for compiled, _ in prepared):
            self._session.expire_all()
        return results

    def _error(self, text: str, values: Any, error: Exception) -> sa.exc.StatementError:
        """The driver's error as SQLAlchemy raises it, so callers catch the same classes."""
        return sa.exc.DBAPIError.instance(
            text, values, error, self._dbapi_error, dialect=self.connection.dialect
        )

    def _bind(self, compiled: _Compiled, params: Params) -> dict[str, Any]:
        values = {**compiled.defaults, **params}
        for name in compiled.time_params:
            moment = values.get(name)
            if moment is not None:
                values[name] = self._stored_time(moment)
        return values

    def _stored_time(self, moment: dt.datetime) -> Any:
        return _sqlite_time(moment) if self._sqlite else as_utc(moment)

    def _rows(self, compiled: _Compiled, raw: list[Any]) -> list[Any]:
        if compiled.row_type is None:
            return raw
        make = compiled.row_type._make
        if not compiled.time_columns:
            return [make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for i in compiled.time_columns:
                values[i] = _read_time(values[i])
            rows.append(make(values))
        return rows

    def close(self) -> None:
        """Close the cursor, and the session this transaction made (a given one is its owner's)."""
        self._cursor.close()
        if self._session is not None and self._session.bind is self.connection:
            self._session.close()


@lru_cache(maxsize=8192)
def _sqlite_time(moment: dt.datetime) -> str:
    """A time as SQLAlchemy's SQLite DATETIME stores it (naive UTC text), so both paths read and
    compare alike. Kept: a write stores the same times again and again (a year of item reminders
    is the same dozens of moments for every plan of that year), and equal moments, in whatever
    zone, have one text."""
    return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def _read_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: naive UTC text
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return read_utc(value)
