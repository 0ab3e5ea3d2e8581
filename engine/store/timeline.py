"""The audit log as one timeline of every plan: each row with its union's and its actor's names.

`planflow demo` prints it at the end of its year. One query, in the order things happened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.base import Executable
from sqlmodel import col

from engine.store.driver import Transaction
from engine.store.tables import AuditEvent, Organisation, Plan, User


@dataclass(frozen=True)
class TimelineEvent:
    """An audit row, with the plan's template (for its states' titles) and the names to show."""

    id: int
    at: dt.datetime
    plan_id: int
    template_id: int
    union: str  # the plan's organisation's name
    actor: str | None  # the actor's name; None: the system (a timer, an escalation)
    action: str
    from_state: str | None
    to_state: str | None
    comment: str | None


def timeline(tx: Transaction) -> list[TimelineEvent]:
    """Every audit row of every plan, oldest first (ties in the order they were written)."""
    return [TimelineEvent(*row) for row in tx.execute(_TIMELINE)]


_TIMELINE: Executable = (
    sa.select(
        col(AuditEvent.id),
        col(AuditEvent.at),
        col(AuditEvent.plan_id),
        col(Plan.template_id),
        col(Organisation.name).label("union"),
        col(User.name).label("actor"),
        col(AuditEvent.action),
        col(AuditEvent.from_state),
        col(AuditEvent.to_state),
        col(AuditEvent.comment),
    )
    .join(Plan, col(Plan.id) == col(AuditEvent.plan_id))
    .join(Organisation, col(Organisation.id) == col(Plan.org_id))
    .outerjoin(User, col(User.id) == col(AuditEvent.actor_id))
    .order_by(col(AuditEvent.at), col(AuditEvent.id))
)
