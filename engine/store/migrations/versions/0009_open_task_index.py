"""task: indexed by status, organisation and role (the inbox's query), not by status alone

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The inbox asks for the open tasks of some roles at one organisation. With ix_task_status
    # PostgreSQL walked every open task and filtered (11,000 of them at 100,000 plans: 15-25 ms);
    # beside it, a partial index of the open tasks by (org_id, role) was costed above that walk
    # and left unused. The composite one begins with the status, so it serves what
    # ix_task_status served (the overdue sweep's status = 'open'), and replaces it.
    op.create_index("ix_task_status_org_role", "task", ["status", "org_id", "role"], unique=False)
    op.drop_index("ix_task_status", table_name="task")


def downgrade() -> None:
    op.create_index("ix_task_status", "task", ["status"], unique=False)
    op.drop_index("ix_task_status_org_role", table_name="task")
