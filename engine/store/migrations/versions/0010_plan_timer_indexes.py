"""plan: indexes for the timers' next due time (template, state, year / state entry)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:55:00

When an `at` timer next falls due follows from the earliest year of the template's plans in its
source state, an `after` timer's from the earliest state entry: with these, each is one index
seek, not a scan of every plan in the state (`engine/store/timers.py`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_plan_timer_year", "plan", ["template_id", "state", "year"])
    op.create_index("ix_plan_timer_entered", "plan", ["template_id", "state", "state_entered_at"])


def downgrade() -> None:
    op.drop_index("ix_plan_timer_entered", table_name="plan")
    op.drop_index("ix_plan_timer_year", table_name="plan")
