"""The statements every write runs, built once, as plain Core statements.

An action is a dozen small statements. Built per call and run through the ORM, each cost several
times what the database takes to run it (building the statement and its cache key, loading rows
into objects, then the unit of work's flush); writes run these prebuilt ones on the driver's
cursor (`driver.py`, and `benchmarks/actions.py` for the figures). Private to the store: its
functions (`plans`, `tasks`, `reminders`, `audit`, …) pass the `bindparam` names below, which
differ from the column names because UPDATE and INSERT reserve those, and turn the rows into
records. None uses an expanding `IN` list, which the driver path cannot send. That these
statements and an ORM session in the same transaction see one database is the `Transaction`'s
business (`driver.py`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam
from sqlmodel import SQLModel

from engine.core.messages import ReminderKind
from engine.store.statuses import ReminderStatus, TaskStatus
from engine.store.tables import (
    AuditEvent,
    Goal,
    MonthlyItem,
    Organisation,
    Plan,
    Reminder,
    RoleGrant,
    Task,
    TaskSigner,
    User,
)


def table_of(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


_PLAN = table_of(Plan)
_ORG = table_of(Organisation)
_USER = table_of(User)
_GRANT = table_of(RoleGrant)
_TASK = table_of(Task)
_SIGNER = table_of(TaskSigner)
_GOAL = table_of(Goal)
_ITEM = table_of(MonthlyItem)
_REMINDER = table_of(Reminder)
_AUDIT = table_of(AuditEvent)

# --- the plan ------------------------------------------------------------------------------------


PLAN_ROW = sa.select(*_PLAN.c).where(_PLAN.c.id == bindparam("plan_id"))
PLAN_ROW_FOR_UPDATE = PLAN_ROW.with_for_update()
PLAN_COLUMNS = tuple(c.name for c in _PLAN.c if c.name != "id")
INSERT_PLAN = sa.insert(_PLAN).returning(_PLAN.c.id)
PLAN_HOLDING = sa.select(_PLAN.c.id).where(  # the plan of an (organisation, year, template)
    _PLAN.c.org_id == bindparam("org_id"),
    _PLAN.c.year == bindparam("year"),
    _PLAN.c.template_name == bindparam("template_name"),
)
# Writes every column but the id from the plan record: {"plan_key": id, **columns}.
WRITE_PLAN = sa.update(_PLAN).where(_PLAN.c.id == bindparam("plan_key"))
INSERT_AUDIT = sa.insert(_AUDIT)
AUDIT_BY_KEY = sa.select(
    _AUDIT.c.plan_id,
    _AUDIT.c.action,
    _AUDIT.c.from_state,
    _AUDIT.c.to_state,
    _AUDIT.c.plan_version,
    _AUDIT.c.request_hash,
    _AUDIT.c.detail,
).where(_AUDIT.c.idempotency_key == bindparam("key"))
# The plan's newest audit row's hash, which the next row chains to, and its time; read under the
# plan's lock.
LAST_AUDIT = (
    sa.select(_AUDIT.c.row_hash, _AUDIT.c.at)
    .where(_AUDIT.c.plan_id == bindparam("plan_id"))
    .order_by(_AUDIT.c.id.desc())
    .limit(1)
)

# --- who acts ------------------------------------------------------------------------------------

_PERSON = (
    _USER.c.id,
    _USER.c.username,
    _USER.c.name,
    _USER.c.org_id,
    _USER.c.email,
    _USER.c.active,
)  # a `people.Person`, in its fields' order
PERSON_BY_NAME = sa.select(*_PERSON).where(_USER.c.username == bindparam("username"))
PERSON_BY_ID = sa.select(*_PERSON).where(_USER.c.id == bindparam("user_id"))
_ORG_FIELDS = (_ORG.c.id, _ORG.c.code, _ORG.c.name, _ORG.c.parent_id)  # a `people.Org`
ORG_BY_CODE = sa.select(*_ORG_FIELDS).where(_ORG.c.code == bindparam("code"))
ORG_BY_ID = sa.select(*_ORG_FIELDS).where(_ORG.c.id == bindparam("org_id"))
USER_WITH_ROLES = (  # the user's columns and one of their roles (or None), in grant order
    sa.select(*_PERSON, _GRANT.c.role)
    .outerjoin(_GRANT, _GRANT.c.user_id == _USER.c.id)
    .where(_USER.c.username == bindparam("username"))
    .order_by(_GRANT.c.id)
)
# (id, parent_id) of an organisation and its ancestors, in no order. UNION, not UNION ALL, so that
# even a corrupt tree with a cycle ends.
_up = (
    sa.select(_ORG.c.id, _ORG.c.parent_id)
    .where(_ORG.c.id == bindparam("org_id"))
    .cte("up", recursive=True)
)
_up = _up.union(sa.select(_ORG.c.id, _ORG.c.parent_id).join(_up, _ORG.c.id == _up.c.parent_id))
ANCESTORS = sa.select(_up.c.id, _up.c.parent_id)
# (user_id, org_id) of the holders of a role at an organisation or any of its ancestors, in
# grant order. A deactivated user holds no role for anything that reaches people.
ROLE_HOLDERS_UP = (
    sa.select(_GRANT.c.user_id, _USER.c.org_id)
    .join(_USER, _USER.c.id == _GRANT.c.user_id)
    .where(
        _GRANT.c.role == bindparam("role"),
        _USER.c.org_id.in_(sa.select(_up.c.id)),
        _USER.c.active == sa.true(),
    )
    .order_by(_GRANT.c.id)
)
# The user ids of the (active) holders of a role at one organisation, in grant order.
ROLE_HOLDERS_AT = (
    sa.select(_GRANT.c.user_id)
    .join(_USER, _USER.c.id == _GRANT.c.user_id)
    .where(
        _GRANT.c.role == bindparam("role"),
        _USER.c.org_id == bindparam("org_id"),
        _USER.c.active == sa.true(),
    )
    .order_by(_GRANT.c.id)
)

# --- tasks and signatures ------------------------------------------------------------------------

# The step's own task; escalation tasks opened beside it (`escalated_from` set) are left out.
OPEN_TASK = sa.select(_TASK.c.id, _TASK.c.sign).where(
    _TASK.c.plan_id == bindparam("plan_id"),
    _TASK.c.status == TaskStatus.OPEN,
    _TASK.c.escalated_from.is_(None),
)
# The plan's open escalation tasks at an organisation: holders of their role there may act on the
# step as the step's own role would.
ESCALATIONS_AT = sa.select(_TASK.c.id, _TASK.c.role).where(
    _TASK.c.plan_id == bindparam("plan_id"),
    _TASK.c.status == TaskStatus.OPEN,
    _TASK.c.escalated_from.is_not(None),
    _TASK.c.org_id == bindparam("org_id"),
)
# A task as `tasks.TaskRecord` holds it, in its fields' order.
TASK_BY_ID = sa.select(
    _TASK.c.id,
    _TASK.c.plan_id,
    _TASK.c.state,
    _TASK.c.role,
    _TASK.c.org_id,
    _TASK.c.sign,
    _TASK.c.status,
    _TASK.c.due_at,
).where(_TASK.c.id == bindparam("task_id"))
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
# The task's signers with their usernames, in signing order (a `tasks.Signer`).
SIGNERS = (
    sa.select(
        _SIGNER.c.id,
        _SIGNER.c.user_id,
        _USER.c.username,
        _SIGNER.c.decision,
        _SIGNER.c.decided_at,
    )
    .join(_USER, _USER.c.id == _SIGNER.c.user_id)
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

REMINDER_KEYS = sa.select(
    _REMINDER.c.id, _REMINDER.c.key, _REMINDER.c.status, _REMINDER.c.item_id
).where(_REMINDER.c.plan_id == bindparam("plan_id"))
# Re-planning drops occurrences that no longer exist (an item moved or removed); only those not
# yet handled: a sent reminder stays what it was.
CANCEL_PLANNED_REMINDER = (
    sa.update(_REMINDER)
    .where(
        _REMINDER.c.id == bindparam("reminder_id"),
        _REMINDER.c.status == ReminderStatus.PLANNED,
    )
    .values(status=ReminderStatus.CANCELLED, last_error="the item's schedule changed")
)
INSERT_REMINDERS = sa.insert(_REMINDER)
REVIVE_REMINDER = (
    sa.update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("reminder_id"))
    .values(status=ReminderStatus.PLANNED)
)


def _cancel_pending_reminders(about: sa.Column[int | None]) -> sa.Update:
    """Cancel a plan's reminders about items (or tasks) that have not gone out yet."""
    return (
        sa.update(_REMINDER)
        .where(
            _REMINDER.c.plan_id == bindparam("of_plan"),
            about.is_not(None),
            # Not `in_`: a list compiles to an expanding IN, which the driver path cannot send.
            sa.or_(
                _REMINDER.c.status == ReminderStatus.PLANNED,
                _REMINDER.c.status == ReminderStatus.FAILED,
            ),
        )
        .values(status=ReminderStatus.CANCELLED)
    )


CANCEL_ITEM_REMINDERS = _cancel_pending_reminders(_REMINDER.c.item_id)
CANCEL_TASK_REMINDERS = _cancel_pending_reminders(_REMINDER.c.task_id)
# A task's new-task notices that have not gone out yet, made moot by a newer one (a `sequence`
# signer signed, and the next gets a notice of their own; the task was handed over): cancelled
# with the reason, since the dispatcher would send each to whoever holds the task then.
CANCEL_UNSENT_TASK_NOTICES = (
    sa.update(_REMINDER)
    .where(
        _REMINDER.c.task_id == bindparam("of_task"),
        _REMINDER.c.kind == ReminderKind.TASK_OPENED,
        _REMINDER.c.status == ReminderStatus.PLANNED,
    )
    .values(status=ReminderStatus.CANCELLED, last_error=bindparam("reason"))
)
# Escalation levels due at `now`, oldest first; each is re-read under its plan's lock.
REMINDER_BY_ID = sa.select(
    _REMINDER.c.id,
    _REMINDER.c.key,
    _REMINDER.c.status,
    _REMINDER.c.task_id,
    _REMINDER.c.recipient_role,
).where(_REMINDER.c.id == bindparam("reminder_id"))
# Settles a reminder that is still planned (sent, dead, cancelled); one settled meanwhile stays.
SETTLE_REMINDER = (
    sa.update(_REMINDER)
    .where(
        _REMINDER.c.id == bindparam("reminder_id"),
        _REMINDER.c.status == ReminderStatus.PLANNED,
    )
    .values(status=bindparam("new_status"), sent_at=bindparam("at"), last_error=bindparam("error"))
)

# --- the audit log, as its readers see it --------------------------------------------------------

# The plan's newest change of state, with who made it (None: the system): what `returns` reads.
LAST_STATE_CHANGE = (
    sa.select(
        _AUDIT.c.at,
        _AUDIT.c.action,
        _AUDIT.c.from_state,
        _AUDIT.c.to_state,
        _AUDIT.c.comment,
        _USER.c.name.label("actor_name"),
        _USER.c.username.label("actor_username"),
    )
    .outerjoin(_USER, _USER.c.id == _AUDIT.c.actor_id)
    .where(
        _AUDIT.c.plan_id == bindparam("plan_id"),
        _AUDIT.c.from_state.is_not(None),
        _AUDIT.c.from_state != "",
        _AUDIT.c.from_state != _AUDIT.c.to_state,
    )
    .order_by(_AUDIT.c.id.desc())
    .limit(1)
)
# Every audit row with its chain fields, by plan then id (`audit verify`).
AUDIT_CHAIN_ROWS = sa.select(
    _AUDIT.c.id,
    _AUDIT.c.plan_id,
    _AUDIT.c.plan_version,
    _AUDIT.c.actor_id,
    _AUDIT.c.at,
    _AUDIT.c.action,
    _AUDIT.c.from_state,
    _AUDIT.c.to_state,
    _AUDIT.c.comment,
    _AUDIT.c.idempotency_key,
    _AUDIT.c.request_hash,
    _AUDIT.c.detail,
    _AUDIT.c.prev_hash,
    _AUDIT.c.row_hash,
).order_by(_AUDIT.c.plan_id, _AUDIT.c.id)
PLAN_VERSIONS = sa.select(_PLAN.c.id, _PLAN.c.version).order_by(_PLAN.c.id)
