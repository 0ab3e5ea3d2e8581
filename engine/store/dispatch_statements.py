"""The statements of reminder dispatch: claiming due reminders and deliveries, recording outcomes.

Like `statements.py`, built once as Core statements: the sweep and the workers run them for every
reminder of a busy morning, where the ORM's per-object cost would dominate. Claims lock the rows
they pick with `FOR UPDATE SKIP LOCKED`, which PostgreSQL honours (two sweepers take disjoint
rows) and SQLite ignores (its `BEGIN IMMEDIATE` already lets one writer in at a time).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.store.statements import table_of
from engine.store.statuses import DeliveryStatus, ReminderStatus
from engine.store.tables import (
    Delivery,
    MonthlyItem,
    Organisation,
    OutboxMessage,
    Plan,
    Reminder,
    Task,
    TaskSigner,
    User,
)

_REMINDER = table_of(Reminder)
_DELIVERY = table_of(Delivery)
_OUTBOX = table_of(OutboxMessage)
_PLAN = table_of(Plan)
_ORG = table_of(Organisation)
_ITEM = table_of(MonthlyItem)
_TASK = table_of(Task)
_SIGNER = table_of(TaskSigner)
_USER = table_of(User)

# --- the sweep -----------------------------------------------------------------------------------

DUE_REMINDERS = (
    sa.select(
        _REMINDER.c.id,
        _REMINDER.c.key,
        _REMINDER.c.plan_id,
        _REMINDER.c.kind,
        _REMINDER.c.rule_index,
        _REMINDER.c.item_id,
        _REMINDER.c.task_id,
        _REMINDER.c.recipient_role,
        _REMINDER.c.fire_at,
        _REMINDER.c.attempts,
    )
    .where(
        _REMINDER.c.status == ReminderStatus.PLANNED,
        _REMINDER.c.fire_at <= bindparam("now"),
        _REMINDER.c.kind.in_(bindparam("kinds", expanding=True)),
    )
    .order_by(_REMINDER.c.fire_at, _REMINDER.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
SET_REMINDER_STATUS = (
    sa.update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("reminder_id"))
    .values(
        status=bindparam("new_status"), last_error=bindparam("reason"), sent_at=bindparam("sent_at")
    )
)
PLANS = sa.select(
    _PLAN.c.id,
    _PLAN.c.org_id,
    _PLAN.c.template_id,
    _PLAN.c.title,
    _PLAN.c.year,
    _PLAN.c.state,
    _ORG.c.name.label("org_name"),
).where(_PLAN.c.id.in_(bindparam("ids", expanding=True)), _ORG.c.id == _PLAN.c.org_id)
ITEMS = sa.select(_ITEM.c.id, _ITEM.c.month, _ITEM.c.title, _ITEM.c.due_day, _ITEM.c.status).where(
    _ITEM.c.id.in_(bindparam("ids", expanding=True))
)
TASKS = sa.select(
    _TASK.c.id,
    _TASK.c.state,
    _TASK.c.role,
    _TASK.c.org_id,
    _TASK.c.sign,
    _TASK.c.status,
    _TASK.c.due_at,
).where(_TASK.c.id.in_(bindparam("ids", expanding=True)))
UNDECIDED_SIGNERS = (
    sa.select(_SIGNER.c.task_id, _SIGNER.c.user_id)
    .where(_SIGNER.c.task_id.in_(bindparam("ids", expanding=True)), _SIGNER.c.decision.is_(None))
    .order_by(_SIGNER.c.task_id, _SIGNER.c.position)
)
USERS = sa.select(_USER.c.id, _USER.c.username, _USER.c.name, _USER.c.email).where(
    _USER.c.id.in_(bindparam("ids", expanding=True))
)
EXISTING_DELIVERY_KEYS = sa.select(_DELIVERY.c.key).where(
    _DELIVERY.c.reminder_id.in_(bindparam("ids", expanding=True))
)
INSERT_DELIVERIES = sa.insert(_DELIVERY).returning(_DELIVERY.c.id, sort_by_parameter_order=True)
INSERT_OUTBOX = sa.insert(_OUTBOX)

# Deliveries that should have been sent by now and were not: published or claimed but past their
# lease (a lost message, a killed worker), or failed and past their backoff.
STALE_DELIVERIES = (
    sa.select(_DELIVERY.c.id)
    .where(
        _DELIVERY.c.status.in_(
            [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
        ),
        _DELIVERY.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(_DELIVERY.c.next_attempt_at, _DELIVERY.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
REQUEUE_DELIVERIES = (
    sa.update(_DELIVERY)
    .where(_DELIVERY.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=DeliveryStatus.QUEUED, next_attempt_at=bindparam("lease_until"))
)

# Reminders still `queued` or `failed` although every delivery of theirs has finished (sent or
# dead): `deliver` settles a batch's reminders after its last send, so a worker killed mid-batch
# leaves those it had already sent unsettled. The sweep settles them.
UNSETTLED_REMINDERS = (
    sa.select(_REMINDER.c.id)
    .where(
        _REMINDER.c.status.in_([ReminderStatus.QUEUED, ReminderStatus.FAILED]),
        sa.exists().where(_DELIVERY.c.reminder_id == _REMINDER.c.id),
        ~sa.exists().where(
            _DELIVERY.c.reminder_id == _REMINDER.c.id,
            _DELIVERY.c.status.not_in([DeliveryStatus.SENT, DeliveryStatus.DEAD]),
        ),
    )
    .order_by(_REMINDER.c.id)
    .limit(bindparam("limit"))
)

# --- the outbox ----------------------------------------------------------------------------------

UNPUBLISHED = (
    sa.select(_OUTBOX.c.id, _OUTBOX.c.payload)
    .where(_OUTBOX.c.published_at.is_(None))
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
MARK_PUBLISHED = (
    sa.update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("at"), attempts=_OUTBOX.c.attempts + 1)
)
UNMARK_PUBLISHED = (
    sa.update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=None, last_error=bindparam("error"))
)
# What waits to be published: how many batches, since when, how often the oldest was tried (every
# cycle tries it first), and the error of that last try.
_WAITING = _OUTBOX.c.published_at.is_(None)
PUBLISHING_BACKLOG = sa.select(
    sa.func.count(),
    sa.func.min(_OUTBOX.c.created_at),
    sa.func.max(_OUTBOX.c.attempts),
    sa.select(_OUTBOX.c.last_error)
    .where(_WAITING, _OUTBOX.c.last_error.is_not(None))
    .order_by(_OUTBOX.c.attempts.desc(), _OUTBOX.c.id)
    .limit(1)
    .scalar_subquery(),
).where(_WAITING)

# --- delivering ----------------------------------------------------------------------------------

# A delivery a worker may take: waiting (queued), or claimed by a worker whose lease ran out.
_CLAIMABLE = sa.or_(
    _DELIVERY.c.status == DeliveryStatus.QUEUED,
    sa.and_(
        _DELIVERY.c.status == DeliveryStatus.SENDING,
        _DELIVERY.c.next_attempt_at <= bindparam("now"),
    ),
)
# The deliveries of a batch that a worker may still send, with all it needs to send them, read
# once per batch: the sweep wrote them and nothing changes them after, so each claim need return
# only what it changes (`_claim`).
CLAIMABLE_DELIVERIES = (
    sa.select(
        _DELIVERY.c.id,
        _DELIVERY.c.key,
        _DELIVERY.c.reminder_id,
        _DELIVERY.c.channel,
        _DELIVERY.c.user_id,
        _DELIVERY.c.subject,
        _DELIVERY.c.body,
    )
    .where(_DELIVERY.c.id.in_(bindparam("ids", expanding=True)), _CLAIMABLE)
    .order_by(_DELIVERY.c.id)
)


# A worker takes a delivery right before sending it. Under PostgreSQL's row locks a second worker
# re-checks the condition after the first commits, and finds the row taken, so each delivery is
# sent by one worker at a time. `attempts` counts the claims; the value a claim returns is that
# claim's token when its outcome is recorded (`FINISH_DELIVERY`).
def _claim(which: sa.ColumnElement[bool]) -> sa.Update:
    """Claim the deliveries `which` picks that are still claimable: `sending`, with a lease, and
    one more attempt, whose number is the claim's token (see `FINISH_DELIVERY`). Returns only
    what the claim set: the rest the worker read with its batch (`CLAIMABLE_DELIVERIES`)."""
    return (
        sa.update(_DELIVERY)
        .where(which, _CLAIMABLE)
        .values(
            status=DeliveryStatus.SENDING,
            next_attempt_at=bindparam("lease_until"),
            attempts=_DELIVERY.c.attempts + 1,
        )
        .returning(
            _DELIVERY.c.id,
            _DELIVERY.c.attempts,
            _DELIVERY.c.next_attempt_at,  # the claim's lease, as just set
        )
    )


CLAIM_DELIVERIES = _claim(_DELIVERY.c.id.in_(bindparam("ids", expanding=True)))
# The same for one delivery, the statement a worker runs before each send (no `IN` list to
# render anew each time, so it also runs on the driver's cursor: `driver.py`).
CLAIM_DELIVERY = _claim(_DELIVERY.c.id == bindparam("delivery_id"))
# The deliveries of its batch that a worker has yet to start stay queued, reserved to it until
# `until`: the sweep republishes a queued delivery only once that has passed. Renewed as the
# worker claims, so it lapses one lease after the worker stops making progress (killed, stuck).
# Rows another transaction holds are skipped, not waited for: that one is claiming or reserving
# them itself, and two renewals waiting on each other's rows (a batch delivered twice at once)
# would deadlock.
RESERVE_DELIVERIES = (
    sa.update(_DELIVERY)
    .where(
        _DELIVERY.c.id.in_(
            sa.select(_DELIVERY.c.id)
            .where(
                _DELIVERY.c.id.in_(bindparam("ids", expanding=True)),
                _DELIVERY.c.status == DeliveryStatus.QUEUED,
            )
            .with_for_update(skip_locked=True)
        )
    )
    .values(next_attempt_at=bindparam("until"))
)
# The outcome of a claim, recorded if no later claim took the delivery over: the row still
# carries this claim's `attempts`, `sending` (even past its lease) or `queued` (the sweep
# requeued it after the lease ran out, and nobody has claimed it since). (`or_`, not `in_`: an
# `IN` list is rendered at execution, which the driver's cursor does not do.)
FINISH_DELIVERY = (
    sa.update(_DELIVERY)
    .where(
        _DELIVERY.c.id == bindparam("delivery_id"),
        _DELIVERY.c.attempts == bindparam("attempt"),
        sa.or_(
            _DELIVERY.c.status == DeliveryStatus.SENDING,
            _DELIVERY.c.status == DeliveryStatus.QUEUED,
        ),
    )
    .values(
        status=bindparam("new_status"),
        sent_at=bindparam("sent_at"),
        next_attempt_at=bindparam("retry_at"),
        last_error=bindparam("reason"),
    )
)
# A send that succeeded after a later claim took its delivery over: the message did reach the
# receiver, so the delivery is sent, whatever the later try makes of it (see `deliver`).
RECORD_LATE_SEND = (
    sa.update(_DELIVERY)
    .where(_DELIVERY.c.id == bindparam("delivery_id"), _DELIVERY.c.status != DeliveryStatus.SENT)
    .values(
        status=DeliveryStatus.SENT,
        sent_at=bindparam("sent_at"),
        next_attempt_at=bindparam("sent_at"),
        last_error=bindparam("reason"),
    )
)
DELIVERY_STATUSES = sa.select(_DELIVERY.c.reminder_id, _DELIVERY.c.status).where(
    _DELIVERY.c.reminder_id.in_(bindparam("ids", expanding=True))
)

# --- operators: listing reminders, retrying them ------------------------------------------------

REMINDER_LISTING = (
    sa.select(
        _REMINDER.c.id,
        _REMINDER.c.plan_id,
        _ORG.c.name.label("org_name"),
        _PLAN.c.template_id,
        _REMINDER.c.kind,
        _REMINDER.c.recipient_role,
        _REMINDER.c.fire_at,
        _REMINDER.c.status,
        _REMINDER.c.attempts,
        _REMINDER.c.last_error,
        _REMINDER.c.item_id,
        _REMINDER.c.task_id,
    )
    .join(_PLAN, _PLAN.c.id == _REMINDER.c.plan_id)
    .join(_ORG, _ORG.c.id == _PLAN.c.org_id)
    .order_by(_REMINDER.c.fire_at, _REMINDER.c.id)
)
PLAN_EXISTS = sa.select(_PLAN.c.id).where(_PLAN.c.id == bindparam("plan_id"))
REMINDER_DELIVERIES = (
    sa.select(
        _DELIVERY.c.id,
        _DELIVERY.c.reminder_id,
        _DELIVERY.c.channel,
        _USER.c.username.label("recipient"),
        _DELIVERY.c.status,
        _DELIVERY.c.attempts,
        _DELIVERY.c.next_attempt_at,
        _DELIVERY.c.last_error,
        _DELIVERY.c.sent_at,
    )
    .join(_USER, _USER.c.id == _DELIVERY.c.user_id)
    .where(_DELIVERY.c.reminder_id.in_(bindparam("ids", expanding=True)))
    .order_by(_DELIVERY.c.id)
)
REMINDER_PLAN = sa.select(_REMINDER.c.plan_id).where(_REMINDER.c.id == bindparam("reminder_id"))
DEAD_REMINDERS = (
    sa.select(_REMINDER.c.id, _REMINDER.c.plan_id)
    .where(_REMINDER.c.status == ReminderStatus.DEAD)
    .order_by(_REMINDER.c.fire_at, _REMINDER.c.id)
)
# A retry locks the reminder's deliveries, then the reminder (PostgreSQL; SQLite's write lock
# already serialises), so a worker settling the reminder meanwhile waits and sees the retry.
LOCK_REMINDER_DELIVERIES = (
    sa.select(_DELIVERY.c.id, _DELIVERY.c.status)
    .where(_DELIVERY.c.reminder_id == bindparam("reminder_id"))
    .order_by(_DELIVERY.c.id)
    .with_for_update()
)
LOCK_REMINDER = (
    sa.select(_REMINDER.c.status, _REMINDER.c.last_error, _REMINDER.c.attempts)
    .where(_REMINDER.c.id == bindparam("reminder_id"))
    .with_for_update()
)
# Stuck deliveries (dead, failed) of a reminder become failed with no attempts used, due now.
RETRY_DELIVERIES = (
    sa.update(_DELIVERY)
    .where(
        _DELIVERY.c.reminder_id == bindparam("of_reminder"),
        sa.or_(
            _DELIVERY.c.status == DeliveryStatus.DEAD,
            _DELIVERY.c.status == DeliveryStatus.FAILED,
        ),
    )
    .values(status=DeliveryStatus.FAILED, attempts=0, next_attempt_at=bindparam("at"))
)
SET_RETRIED_REMINDER = (
    sa.update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("reminder_id"))
    .values(status=bindparam("new_status"), attempts=bindparam("retries"), last_error=None)
)
