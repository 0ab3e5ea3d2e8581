"""cycle_failure: timers and escalation levels the scheduler's cycle could not carry out

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import engine.store.tables

revision: str = "0006"
# Chained after main's head when this branch last merged main (0004), so that it has one head;
# the integrator re-chains the migrations into one line.
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cycle_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reminder_id", sa.Integer(), nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "first_failed_at", engine.store.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_failed_at", engine.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retry_at", engine.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject"),
    )
    op.create_index(op.f("ix_cycle_failure_plan_id"), "cycle_failure", ["plan_id"], unique=False)
    op.create_index(
        op.f("ix_cycle_failure_reminder_id"), "cycle_failure", ["reminder_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cycle_failure_reminder_id"), table_name="cycle_failure")
    op.drop_index(op.f("ix_cycle_failure_plan_id"), table_name="cycle_failure")
    op.drop_table("cycle_failure")
