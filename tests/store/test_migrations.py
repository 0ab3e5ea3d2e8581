"""The migrations build exactly the schema the table models describe, on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel, col, select

from engine.core.clock import SimulatedClock
from engine.service.audit import verify_audit
from engine.store.database import Database
from engine.store.migrate import current_revision, head_revision, upgrade
from engine.store.tables import Goal
from tests.conftest import make_runtime
from tests.services import POSTGRES_ADMIN_URL


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert current_revision(database) == head_revision()
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        database.dispose()


def test_upgrade_runs_again_without_changes(database_url: str) -> None:
    database = Database(database_url)
    try:
        upgrade(database)
        assert current_revision(database) == head_revision()
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, on each engine (to migrate step by step)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips when PostgreSQL is not there
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"planflow_migrate_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


AT = "2027-01-05 01:30:00.123456"


def insert_old_plans(run: Callable[[str], object], versions: dict[int, int]) -> None:
    """An organisation, a user, a template and plans {id: version}, as an old schema holds them
    (raw SQL: the models describe the newest schema, not the one being migrated from)."""
    run("INSERT INTO organisation (id, code, name) VALUES (1, 'o', '单位')")
    run("INSERT INTO app_user (id, username, name, org_id) VALUES (1, 'u', '用户', 1)")
    run(
        "INSERT INTO workflow_template (id, name, version, title, source, checksum, "
        f"loaded_at) VALUES (1, 't', 1, 'T', '', '', '{AT}')"
    )
    for plan, version in versions.items():
        run(
            "INSERT INTO plan (id, org_id, year, title, template_id, template_name, "
            "template_version, state, state_entered_at, version, created_by, created_at, "
            f"updated_at) VALUES ({plan}, 1, {2026 + plan}, 'p', 1, 't', 1, 'draft', "
            f"'{AT}', {version}, 1, '{AT}', '{AT}')"
        )


def test_0005_chains_the_audit_rows_already_there_and_guards_them(
    empty_database_url: str, clock: SimulatedClock
) -> None:
    database = Database(empty_database_url)
    upgrade(database, "0002")
    with database.engine.begin() as connection:
        run = connection.exec_driver_sql
        insert_old_plans(run, {1: 2, 2: 2})
        for plan, version, detail in ((1, 1, None), (2, 1, None), (1, 2, '{"b": 1, "a": "值"}')):
            run(
                "INSERT INTO audit_event (plan_id, at, actor_id, action, from_state, to_state, "
                "plan_version, detail) VALUES "
                f"({plan}, '{AT}', 1, 'edit', 'draft', 'draft', {version}, "
                f"{'NULL' if detail is None else repr(detail)})"
            )
        if database.engine.dialect.name == "postgresql":
            run("SELECT setval('plan_id_seq', 2)")
    upgrade(database)
    rt = make_runtime(empty_database_url, clock)
    try:
        result = verify_audit(rt)
        # Plan 2 is at version 2 with one row: the backfill chains what is there, it invents
        # nothing, so the missing row is reported as missing.
        assert result.rows == 3
        assert [(b.plan_id, b.row_id) for b in result.breaks] == [(2, None)]
        assert not result.missing_guards
        refused = pytest.raises(sa.exc.IntegrityError, match="append-only: UPDATE refused")
        with refused, database.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE audit_event SET comment = 'x'")
    finally:
        rt.database.dispose()
        database.dispose()


def test_0007_gives_the_goals_already_there_no_negative_actuals(
    empty_database_url: str, clock: SimulatedClock
) -> None:
    database = Database(empty_database_url)
    upgrade(database, "0006")
    with database.engine.begin() as connection:
        run = connection.exec_driver_sql
        insert_old_plans(run, {1: 1})
        run(
            "INSERT INTO goal (plan_id, position, key, title, target, unit, comparator, actual) "
            "VALUES (1, 1, 'members', '发展新会员', 30, '人', '>=', 12)"
        )
    upgrade(database)
    try:
        assert current_revision(database) == head_revision()
        with Session(database.engine) as session:
            [goal] = session.exec(select(Goal)).all()
            assert (goal.key, goal.actual, goal.allow_negative) == ("members", 12, False)
            session.add(
                Goal(
                    plan_id=1,
                    position=2,
                    key="surplus",
                    title="经费结余",
                    target=0,
                    unit="万元",
                    comparator=">=",
                    allow_negative=True,
                )
            )
            session.commit()
            stored = session.exec(
                select(Goal.key, Goal.allow_negative).order_by(col(Goal.id))
            ).all()
            assert [tuple(row) for row in stored] == [("members", False), ("surplus", True)]
    finally:
        database.dispose()
