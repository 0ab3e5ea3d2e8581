"""The statements every write runs, built once, as plain Core statements.

An action is a dozen small statements. Built per call and run through the ORM, each cost several
times what the database takes to run it (building the statement and its cache key, loading rows
into objects, then the unit of work's flush); prebuilt Core statements on the session's connection
cost a fraction of that (see `benchmarks/actions.py`). Callers pass the `bindparam` names below;
they differ from the column names because UPDATE and INSERT reserve those.

Rows read with these never become session objects, and writing with them does not update objects
the session holds: no write loads a row through the session that it changes here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import SQLModel, col, select

from engine.store.tables import (
    AuditEvent,
    Goal,
    MonthlyItem,
    Organisation,
    Plan,
    Reminder,
    ReminderStatus,
    RoleGrant,
    Task,
    TaskSigner,
    TaskStatus,
    User,
)


def _table(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


_PLAN = _table(Plan)
_ORG = _table(Organisation)
_USER = _table(User)
_GRANT = _table(RoleGrant)
_TASK = _table(Task)
_SIGNER = _table(TaskSigner)
_GOAL = _table(Goal)
_ITEM = _table(MonthlyItem)
_REMINDER = _table(Reminder)

# --- the plan ------------------------------------------------------------------------------------

PLAN = select(Plan).where(Plan.id == bindparam("plan_id"))  # an ORM Plan: changes mutate it
PLAN_FOR_UPDATE = PLAN.with_for_update()
PLAN_COLUMNS = tuple(c.name for c in _PLAN.c if c.name != "id")
# Writes every column but the id from the plan object: {"plan_key": id, **columns}.
WRITE_PLAN = sa.update(_PLAN).where(_PLAN.c.id == bindparam("plan_key"))
INSERT_AUDIT = sa.insert(_table(AuditEvent))

# --- who acts ------------------------------------------------------------------------------------

USER_BY_NAME = select(User).where(User.username == bindparam("username"))
USER_WITH_ROLES = (  # (User, role or None) rows, in grant order
    select(User, RoleGrant.role)
    .outerjoin(RoleGrant, col(RoleGrant.user_id) == User.id)
    .where(User.username == bindparam("username"))
    .order_by(col(RoleGrant.id))
)
ROLES_OF = sa.select(_GRANT.c.role).where(_GRANT.c.user_id == bindparam("user_id"))
# (id, parent_id) of an organisation and its ancestors, in no order. UNION, not UNION ALL, so that
# even a corrupt tree with a cycle ends.
_up = (
    sa.select(_ORG.c.id, _ORG.c.parent_id)
    .where(_ORG.c.id == bindparam("org_id"))
    .cte("up", recursive=True)
)
_up = _up.union(sa.select(_ORG.c.id, _ORG.c.parent_id).join(_up, _ORG.c.id == _up.c.parent_id))
ANCESTORS = sa.select(_up.c.id, _up.c.parent_id)
# (user_id, org_id) of the holders of a role at any of some organisations, in grant order.
ROLE_HOLDERS = (
    sa.select(_GRANT.c.user_id, _USER.c.org_id)
    .join(_USER, _USER.c.id == _GRANT.c.user_id)
    .where(
        _GRANT.c.role == bindparam("role"), _USER.c.org_id.in_(bindparam("orgs", expanding=True))
    )
    .order_by(_GRANT.c.id)
)

# --- tasks and signatures ------------------------------------------------------------------------

OPEN_TASK = sa.select(_TASK.c.id, _TASK.c.sign).where(
    _TASK.c.plan_id == bindparam("plan_id"), _TASK.c.status == TaskStatus.OPEN
)
CLOSE_OPEN_TASKS = (
    sa.update(_TASK)
    .where(_TASK.c.plan_id == bindparam("of_plan"), _TASK.c.status == TaskStatus.OPEN)
    .values(
        status=TaskStatus.CLOSED,
        closed_at=bindparam("at"),
        closed_by=bindparam("by"),
        outcome=bindparam("trigger"),
    )
)
INSERT_TASK = sa.insert(_TASK).returning(_TASK.c.id)
SIGNERS = (
    sa.select(_SIGNER.c.id, _SIGNER.c.user_id, _SIGNER.c.decision, _SIGNER.c.decided_at)
    .where(_SIGNER.c.task_id == bindparam("task_id"))
    .order_by(_SIGNER.c.position)
)
SIGN = (
    sa.update(_SIGNER)
    .where(_SIGNER.c.id == bindparam("signer_id"))
    .values(decision=bindparam("trigger"), decided_at=bindparam("at"), comment=bindparam("note"))
)
INSERT_SIGNERS = sa.insert(_SIGNER)
ANY_DECISION = (
    sa.select(_SIGNER.c.id)
    .where(_SIGNER.c.task_id == bindparam("task_id"), _SIGNER.c.decision.is_not(None))
    .limit(1)
)

# --- the plan's content --------------------------------------------------------------------------

GOAL_FACTS = sa.select(_GOAL.c.title, _GOAL.c.actual).where(_GOAL.c.plan_id == bindparam("plan_id"))
ITEM_FACTS = (
    sa.select(_ITEM.c.month, _ITEM.c.title, _ITEM.c.status)
    .where(_ITEM.c.plan_id == bindparam("plan_id"))
    .order_by(_ITEM.c.position)
)
ITEM_SCHEDULES = sa.select(_ITEM.c.id, _ITEM.c.month, _ITEM.c.due_day, _ITEM.c.title).where(
    _ITEM.c.plan_id == bindparam("plan_id")
)

# --- reminders -----------------------------------------------------------------------------------

REMINDER_KEYS = sa.select(_REMINDER.c.id, _REMINDER.c.key, _REMINDER.c.status).where(
    _REMINDER.c.plan_id == bindparam("plan_id")
)
INSERT_REMINDERS = sa.insert(_REMINDER)
REVIVE_REMINDER = (
    sa.update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("reminder_id"))
    .values(status=ReminderStatus.PLANNED)
)
CANCEL_ITEM_REMINDERS = (
    sa.update(_REMINDER)
    .where(
        _REMINDER.c.plan_id == bindparam("of_plan"),
        _REMINDER.c.item_id.is_not(None),
        _REMINDER.c.status.in_([ReminderStatus.PLANNED, ReminderStatus.FAILED]),
    )
    .values(status=ReminderStatus.CANCELLED)
)
