"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a runtime with a simulated
clock, and a small world (county → townships → grassroots unions with their users)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from config.settings import Settings
from engine.core.calendar import WorkCalendar
from engine.core.clock import SimulatedClock
from engine.core.i18n import set_language
from engine.service.runtime import Runtime
from engine.store.database import Database
from engine.store.migrate import upgrade
from tests.services import POSTGRES_ADMIN_URL, unavailable

# The suite reads English: tests assert the English message ids, in this process and in every
# `planflow` subprocess it starts (they inherit the environment). Tests of Chinese ask for it.
os.environ["PLANFLOW_LANG"] = "en"
set_language("en")

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"planflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        unavailable("PostgreSQL", str(error.orig).strip().splitlines()[0])
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    upgrade(database)
    database.dispose()
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database, on each of the two supported engines."""
    if request.param == "sqlite":
        path = tmp_path / "planflow.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "planflow.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


def make_runtime(url: str, clock: SimulatedClock) -> Runtime:
    settings = Settings(database_url=url)
    return Runtime(database=Database(url), settings=settings, clock=clock, calendar=WorkCalendar())


@pytest.fixture
def rt(database_url: str, clock: SimulatedClock) -> Iterator[Runtime]:
    runtime = make_runtime(database_url, clock)
    yield runtime
    runtime.database.dispose()


@pytest.fixture
def sqlite_rt(sqlite_url: str, clock: SimulatedClock) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, clock)
    yield runtime
    runtime.database.dispose()
