"""Create or upgrade a database to the newest schema with Alembic (`planflow init`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.store.database import READ_ONLY, Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run again on an up-to-date database."""
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(database: Database) -> str | None:
    # Read-only, so that a command's schema check does not queue behind a SQLite writer.
    with database.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return MigrationContext.configure(connection).get_current_revision()


@cache
def head_revision() -> str | None:
    """The newest migration this code holds. Read once per process: the scripts do not change
    while it runs, and reading them (every version file parsed) cost /healthz ~20 ms a call."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
