"""audit hash chain and append-only triggers

Adds `prev_hash` and `row_hash` to `audit_event`, fills them in for the rows already there (each
plan's rows chained in id order, as new writes chain them), then installs the triggers that
refuse UPDATE and DELETE of audit rows (`engine/store/audit_guard.py`). The backfill runs before
the triggers exist: it is the last update these rows ever get.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from engine.core.audit_chain import AuditContent, row_hash
from engine.store import audit_guard
from engine.store.tables import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_audit = sa.table(
    "audit_event",
    sa.column("id", sa.Integer()),
    sa.column("plan_id", sa.Integer()),
    sa.column("at", UtcDateTime()),
    sa.column("actor_id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("from_state", sa.String()),
    sa.column("to_state", sa.String()),
    sa.column("comment", sa.Text()),
    sa.column("plan_version", sa.Integer()),
    sa.column("idempotency_key", sa.String()),
    sa.column("request_hash", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("prev_hash", sa.String()),
    sa.column("row_hash", sa.String()),
)


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch rebuild: nullable columns need none, even on SQLite.
    op.add_column(
        "audit_event",
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column(
        "audit_event",
        sa.Column("row_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    _backfill_chains()
    dialect = op.get_bind().dialect.name
    for statement in audit_guard.create_statements(dialect):
        op.get_bind().exec_driver_sql(statement)


def _backfill_chains() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_audit).order_by(_audit.c.plan_id, _audit.c.id)).all()
    last: dict[int, str] = {}
    updates = []
    for row in rows:
        content = AuditContent(
            plan_id=row.plan_id,
            plan_version=row.plan_version,
            actor_id=row.actor_id,
            at=row.at,
            action=row.action,
            from_state=row.from_state,
            to_state=row.to_state,
            comment=row.comment,
            idempotency_key=row.idempotency_key,
            request_hash=row.request_hash,
            detail=row.detail,
        )
        prev = last.get(row.plan_id)
        last[row.plan_id] = digest = row_hash(content, prev)
        updates.append({"row_id": row.id, "prev": prev, "digest": digest})
    if updates:
        connection.execute(
            sa.update(_audit)
            .where(_audit.c.id == sa.bindparam("row_id"))
            .values(prev_hash=sa.bindparam("prev"), row_hash=sa.bindparam("digest")),
            updates,
        )


def downgrade() -> None:
    for statement in audit_guard.drop_statements(op.get_bind().dialect.name):
        op.get_bind().exec_driver_sql(statement)
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
