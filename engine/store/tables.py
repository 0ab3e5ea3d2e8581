"""The database tables (SQLModel), the source of truth for plans, tasks, audit and reminders.

Times are stored in UTC (`UtcDateTime` refuses naive values on the way in and hands back aware
ones on the way out, on SQLite too). Rows are plain records: state-machine behaviour lives in
`engine.core`, and the service layer is the only code that writes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from engine.core import limits
from engine.store.statuses import DeliveryStatus, ReminderStatus, TaskStatus

UTC = dt.UTC


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes everywhere; SQLite has no time zones, so it stores naive UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else read_utc(value)


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware time in UTC, as the database takes it; a naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
    return value.astimezone(UTC)


def read_utc(value: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC time: naive ones (SQLite) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=limits.ORG_CODE)
    name: str = Field(max_length=limits.ORG_NAME)
    parent_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=limits.USERNAME)
    name: str = Field(max_length=limits.USER_NAME)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    email: str | None = Field(default=None, max_length=limits.EMAIL)
    # False once deactivated (`planflow user deactivate`): they may not act, and no task,
    # signature or reminder goes to them; their grants stay on record.
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # An argon2 hash (pwdlib); None: the user cannot log in until a password is set.
    password_hash: str | None = Field(default=None, max_length=255)


class RoleGrant(SQLModel, table=True):
    """A user holds a role at their own organisation; the role's scope is relative to it."""

    __tablename__ = "role_grant"
    __table_args__ = (sa.UniqueConstraint("user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(max_length=64, index=True)
    granted_at: dt.datetime = _utc()


class TemplateRecord(SQLModel, table=True):
    """A loaded template version; (name, version) never changes content once stored."""

    __tablename__ = "workflow_template"
    __table_args__ = (sa.UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=limits.TEMPLATE_NAME)
    version: int
    title: str = Field(max_length=200)
    source: str = Field(sa_type=sa.Text)
    checksum: str = Field(max_length=64)  # sha256 of the source text
    loaded_at: dt.datetime = _utc()


class Plan(SQLModel, table=True):
    __tablename__ = "plan"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "year", "template_name"),
        # The timers' next due time (engine/store/timers.py): one seek per template and timer.
        sa.Index("ix_plan_timer_year", "template_id", "state", "year"),
        sa.Index("ix_plan_timer_entered", "template_id", "state", "state_entered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    year: int
    title: str = Field(max_length=limits.PLAN_TITLE)
    template_id: int = Field(foreign_key="workflow_template.id")
    template_name: str = Field(max_length=limits.TEMPLATE_NAME)
    template_version: int
    state: str = Field(max_length=64, index=True)
    state_entered_at: dt.datetime = _utc()
    # Bumped by every write; an action may name the version it saw and is refused if stale.
    version: int = 1
    created_by: int = Field(foreign_key="app_user.id")
    created_at: dt.datetime = _utc()
    updated_at: dt.datetime = _utc()
    assessment_score: float | None = None
    assessment_comment: str | None = Field(default=None, sa_type=sa.Text)


class PlanSection(SQLModel, table=True):
    __tablename__ = "plan_section"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    position: int
    heading: str = Field(max_length=limits.SECTION_HEADING)
    body: str = Field(sa_type=sa.Text)


class Goal(SQLModel, table=True):
    __tablename__ = "goal"
    __table_args__ = (sa.UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    position: int
    key: str = Field(max_length=limits.GOAL_KEY)
    title: str = Field(max_length=limits.GOAL_TITLE)
    target: float
    unit: str = Field(max_length=limits.GOAL_UNIT)
    comparator: str = Field(max_length=2)
    allow_negative: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    actual: float | None = None
    actual_note: str | None = Field(default=None, sa_type=sa.Text)
    reported_at: dt.datetime | None = _utc(default=None)


class MonthlyItem(SQLModel, table=True):
    __tablename__ = "monthly_item"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    position: int
    month: int
    title: str = Field(max_length=limits.ITEM_TITLE)
    detail: str = Field(default="", sa_type=sa.Text)
    due_day: int | None = None
    status: str | None = Field(default=None, max_length=16)  # an ItemStatus once reported
    report_note: str | None = Field(default=None, sa_type=sa.Text)
    reported_at: dt.datetime | None = _utc(default=None)


class Task(SQLModel, table=True):
    """A pending decision for a role at an organisation (a candidate group)."""

    __tablename__ = "task"
    __table_args__ = (
        # At most one open task per plan, state and candidate group, enforced by the database.
        sa.Index(
            "uq_task_open",
            "plan_id",
            "state",
            "role",
            "org_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
        # By status, then the inbox's query: the open tasks of some roles at one organisation
        # (migration 0009; it replaced an index of the status alone).
        sa.Index("ix_task_status_org_role", "status", "org_id", "role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    state: str = Field(max_length=64)
    role: str = Field(max_length=64)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    sign: str = Field(max_length=16)
    status: str = Field(default=TaskStatus.OPEN, max_length=16)
    opened_at: dt.datetime = _utc()
    due_at: dt.datetime | None = _utc(default=None)
    closed_at: dt.datetime | None = _utc(default=None)
    closed_by: int | None = Field(default=None, foreign_key="app_user.id")
    outcome: str | None = Field(default=None, max_length=64)  # the trigger that closed it
    # Set on a task opened by an escalation: the overdue task it escalates. Its holders may act
    # on the step as the original task's role would.
    escalated_from: int | None = Field(default=None, foreign_key="task.id")


class TaskSigner(SQLModel, table=True):
    """For `sign: all|sequence`: the holders asked to sign, fixed when the task opened."""

    __tablename__ = "task_signer"
    __table_args__ = (sa.UniqueConstraint("task_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    user_id: int = Field(foreign_key="app_user.id")
    position: int
    decision: str | None = Field(default=None, max_length=64)
    decided_at: dt.datetime | None = _utc(default=None)
    comment: str | None = Field(default=None, sa_type=sa.Text)


class AuditEvent(SQLModel, table=True):
    """Append-only record of every write to a plan; lands in the same transaction or not at all."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    at: dt.datetime = _utc()
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")  # None: the system
    action: str = Field(max_length=64)  # a trigger, or create/edit/report/sign
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    plan_version: int
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, sa_type=sa.Text)  # JSON
    # The plan's hash chain (`engine/core/audit_chain.py`): the previous row's hash (None for a
    # plan's first row) and a SHA-256 over this row's content and that hash. Triggers refuse
    # UPDATE and DELETE of these rows (migration 0005); `planflow audit verify` checks the chain.
    prev_hash: str | None = Field(default=None, max_length=64)
    row_hash: str | None = Field(default=None, max_length=64)


class Reminder(SQLModel, table=True):
    """A planned message for a role; at send time it becomes one `Delivery` per recipient.

    `status` moves planned → queued (deliveries written) → sent (all delivered) or dead (some
    delivery gave up); or to cancelled, skipped or missed without sending. `last_error` says why
    a reminder did not go out; `attempts` counts operator retries (`planflow reminders retry`).
    """

    __tablename__ = "reminder"
    __table_args__ = (sa.Index("ix_reminder_due", "status", "fire_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    kind: str = Field(max_length=32)  # item_month_start, item_due, task_due, …
    rule_index: int | None = None
    item_id: int | None = Field(default=None, foreign_key="monthly_item.id")
    task_id: int | None = Field(default=None, foreign_key="task.id")
    recipient_role: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=32)  # None: the deployment's default
    fire_at: dt.datetime = _utc()
    status: str = Field(default=ReminderStatus.PLANNED, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    sent_at: dt.datetime | None = _utc(default=None)
    created_at: dt.datetime = _utc()


class Delivery(SQLModel, table=True):
    """One reminder to one recipient over one channel: the unit that is sent exactly once.

    `key` is the reminder's key plus channel and recipient, unique, so no sweep can write the same
    delivery twice. `next_attempt_at` is when the sweep should publish it again if it is still
    not sent: the lease of a claimed delivery, the backoff of a failed one.
    """

    __tablename__ = "delivery"
    __table_args__ = (sa.Index("ix_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)
    reminder_id: int = Field(foreign_key="reminder.id", index=True)
    channel: str = Field(max_length=32)
    user_id: int = Field(foreign_key="app_user.id")
    # The message as rendered when the sweep wrote the delivery: what an operator sees is what
    # was sent, and a worker needs no plan, item or template to send it.
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=sa.Text)
    status: str = Field(default=DeliveryStatus.QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: dt.datetime = _utc()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: dt.datetime = _utc()
    sent_at: dt.datetime | None = _utc(default=None)


class OutboxMessage(SQLModel, table=True):
    """Messages to publish after commit (transactional outbox)."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=64)
    payload: str = Field(sa_type=sa.Text)  # JSON
    created_at: dt.datetime = _utc()
    published_at: dt.datetime | None = _utc(default=None, index=True)
    attempts: int = 0
    # Why the last try to publish it failed; with `attempts` it tells an operator that, and how
    # long, the broker has been unreachable.
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class CycleFailure(SQLModel, table=True):
    """A timer or escalation level the scheduler's cycle could not carry out, kept for operators.

    One row per thing that fails (`subject`, unique: `timer:{plan}:{trigger}`,
    `escalation:{reminder}`), updated on each retry rather than added, so a failure repeated every
    cycle is one row with a count. It is retried from `retry_at` (backing off), or at once when
    the plan has changed since `plan_version`; it is deleted when a retry succeeds or the plan
    has changed, so what is listed is what is still stuck.
    """

    __tablename__ = "cycle_failure"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=120, unique=True)
    step: str = Field(max_length=16)  # timer, escalation
    plan_id: int = Field(foreign_key="plan.id", index=True)
    trigger: str | None = Field(default=None, max_length=64)  # a timer's
    reminder_id: int | None = Field(default=None, index=True)  # an escalation level's
    plan_version: int  # the version the failed try saw
    error: str = Field(sa_type=sa.Text)
    attempts: int = 1
    first_failed_at: dt.datetime = _utc()
    last_failed_at: dt.datetime = _utc()
    retry_at: dt.datetime = _utc()


class WebSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds only a random key; this row is the truth.

    The key itself is never stored, only its SHA-256 (`key_hash`), so a copy of the table logs
    nobody in. A session ends at `expires_at`, when it sits idle past the idle limit, at logout,
    at "log out everywhere", or when its user is deactivated or their password changes
    (`ended_at`, kept for the record rather than deleting the row).
    """

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_token: str = Field(max_length=64)  # the synchronizer token of this session's forms
    created_at: dt.datetime = _utc()
    last_seen_at: dt.datetime = _utc()
    expires_at: dt.datetime = _utc()
    ended_at: dt.datetime | None = _utc(default=None)
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API: stored as its SHA-256 with a short visible prefix (to tell
    tokens apart in a listing), an expiry and its last use. Never a JWT: revoking is a row."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = _utc()
    expires_at: dt.datetime = _utc()
    last_used_at: dt.datetime | None = _utc(default=None)
    revoked_at: dt.datetime | None = _utc(default=None)


class LoginAttempt(SQLModel, table=True):
    """One try to log in, kept to throttle guessing per username and per address."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_at", "username", "at"),
        sa.Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _utc()
    username: str = Field(max_length=limits.USERNAME)
    address: str = Field(max_length=64)
    succeeded: bool


class InstanceSecret(SQLModel, table=True):
    """Secrets the deployment made for itself on first start (the session cookie's signing key
    when `PLANFLOW_SECRET_KEY` is unset), shared by every process on the database."""

    __tablename__ = "instance_secret"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    value: str = Field(max_length=200)
