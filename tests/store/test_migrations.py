"""The migrations build exactly the schema the table models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from engine.store.database import Database
from engine.store.migrate import current_revision, head_revision, upgrade


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
