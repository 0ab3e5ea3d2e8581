"""goal.allow_negative: a goal whose actuals may be below zero

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch: on SQLite a batch copies the table and drops the old one,
    # which fails once rows of other tables refer to it. Goals already stored get false: they
    # keep refusing negative actuals, as they did before the flag existed.
    op.add_column(
        "goal", sa.Column("allow_negative", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.drop_column("allow_negative")
