"""The database's own guard on the audit log: triggers that refuse UPDATE and DELETE of its rows.

The application never changes an audit row; these make sure nobody else does either without
first dropping a trigger, which `guards_missing` (run by `planflow audit verify`) then reports.
Migration 0005 creates them; changing this SQL needs a new migration that recreates them.

On SQLite a table rebuild (`batch_alter_table` in a migration) drops the triggers with the old
table: a migration that rebuilds `audit_event` must create them again (`create_statements`).
TRUNCATE on PostgreSQL fires no row trigger; it is the database owner's tool (the test suite
empties its databases with it), and the chains' check against each plan's version shows it.
"""

from __future__ import annotations

import sqlalchemy as sa

REFUSAL = "audit_event rows are append-only"
SQLITE_TRIGGERS = ("audit_event_no_update", "audit_event_no_delete")
POSTGRES_TRIGGER = "audit_event_append_only"
POSTGRES_FUNCTION = "planflow_audit_event_append_only"


def create_statements(dialect: str) -> list[str]:
    """The SQL that installs the guard on `dialect` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {name} BEFORE {verb} ON audit_event "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {verb} refused'); END"
            for name, verb in zip(SQLITE_TRIGGERS, ("UPDATE", "DELETE"), strict=True)
        ]
    return [
        f"CREATE OR REPLACE FUNCTION {POSTGRES_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        # No `%` placeholder: the text goes through the driver, which would read it as one.
        f"BEGIN RAISE EXCEPTION USING MESSAGE = '{REFUSAL}: ' || TG_OP || ' refused', "
        "ERRCODE = 'integrity_constraint_violation'; END $$",
        f"CREATE TRIGGER {POSTGRES_TRIGGER} BEFORE UPDATE OR DELETE ON audit_event "
        f"FOR EACH ROW EXECUTE FUNCTION {POSTGRES_FUNCTION}()",
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
    return [
        f"DROP TRIGGER IF EXISTS {POSTGRES_TRIGGER} ON audit_event",
        f"DROP FUNCTION IF EXISTS {POSTGRES_FUNCTION}()",
    ]


def guards_missing(connection: sa.Connection) -> list[str]:
    """The names of the guard's triggers that are not installed (none when it is whole)."""
    if connection.dialect.name == "sqlite":
        found = set(
            connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'"
            ).scalars()
        )
        return [name for name in SQLITE_TRIGGERS if name not in found]
    enabled = connection.exec_driver_sql(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = %(name)s "
        "AND tgrelid = 'audit_event'::regclass",
        {"name": POSTGRES_TRIGGER},
    ).scalar()
    # 'D': present but disabled (ALTER TABLE … DISABLE TRIGGER), as good as missing.
    return [] if enabled not in (None, "D") else [POSTGRES_TRIGGER]
