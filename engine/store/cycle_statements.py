"""The statements of the scheduler cycle's failure record (`cycle_failure`) and of the sweeps
that read it: due escalation levels, and the purge of failures that no longer hold.

A failure is kept while its plan is unchanged (`plan_version`) and, for an escalation level,
while the level is still planned; past that the record says nothing true and is deleted, so the
thing is tried again at once, as if it had never failed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import bindparam

from engine.core.planning import TASK_ESCALATION
from engine.store.statements import table_of
from engine.store.statuses import CycleStep, ReminderStatus
from engine.store.tables import CycleFailure, Organisation, Plan, Reminder

TIMER_STEP = CycleStep.TIMER
ESCALATION_STEP = CycleStep.ESCALATION
HANDOVER_STEP = CycleStep.HANDOVER

_FAILURE = table_of(CycleFailure)
_PLAN = table_of(Plan)
_ORG = table_of(Organisation)
_REMINDER = table_of(Reminder)

_PLAN_CHANGED = _FAILURE.c.plan_version != (
    sa.select(_PLAN.c.version).where(_PLAN.c.id == _FAILURE.c.plan_id).scalar_subquery()
)
_LEVEL_SETTLED = ~sa.exists().where(
    _REMINDER.c.id == _FAILURE.c.reminder_id, _REMINDER.c.status == ReminderStatus.PLANNED
)
FORGET_STALE_TIMER_FAILURES = sa.delete(_FAILURE).where(
    _FAILURE.c.step == TIMER_STEP, _PLAN_CHANGED
)
FORGET_STALE_ESCALATION_FAILURES = sa.delete(_FAILURE).where(
    _FAILURE.c.step == ESCALATION_STEP, sa.or_(_PLAN_CHANGED, _LEVEL_SETTLED)
)
FORGET_FAILURE = sa.delete(_FAILURE).where(_FAILURE.c.subject == bindparam("subject"))

# Levels due now, except those that failed and wait for their retry. Never-failed levels come
# first, then failed ones by their last try: levels that fail every time cannot crowd out the
# rest, however many there are.
_LEVEL_FAILURE = sa.and_(
    _FAILURE.c.reminder_id == _REMINDER.c.id, _FAILURE.c.step == ESCALATION_STEP
)
DUE_ESCALATIONS = (
    sa.select(
        _REMINDER.c.id,
        _REMINDER.c.plan_id,
        _PLAN.c.version.label("plan_version"),
        _FAILURE.c.id.label("failure_id"),
    )
    .join(_PLAN, _PLAN.c.id == _REMINDER.c.plan_id)
    .outerjoin(_FAILURE, _LEVEL_FAILURE)
    .where(
        _REMINDER.c.kind == TASK_ESCALATION,
        _REMINDER.c.status == ReminderStatus.PLANNED,
        _REMINDER.c.fire_at <= bindparam("now"),
        sa.or_(_FAILURE.c.id.is_(None), _FAILURE.c.retry_at <= bindparam("now")),
    )
    .order_by(
        sa.case((_FAILURE.c.id.is_(None), 0), else_=1),
        _FAILURE.c.last_failed_at,
        _REMINDER.c.fire_at,
        _REMINDER.c.id,
    )
    .limit(bindparam("limit"))
)

# What an operator lists: failures that still hold (the plan unchanged since), oldest first.
CURRENT_FAILURES = (
    sa.select(
        _FAILURE.c.step,
        _FAILURE.c.plan_id,
        _ORG.c.name.label("org_name"),
        _FAILURE.c.trigger,
        _FAILURE.c.reminder_id,
        _FAILURE.c.error,
        _FAILURE.c.attempts,
        _FAILURE.c.first_failed_at,
        _FAILURE.c.last_failed_at,
        _FAILURE.c.retry_at,
    )
    .join(_PLAN, _PLAN.c.id == _FAILURE.c.plan_id)
    .join(_ORG, _ORG.c.id == _PLAN.c.org_id)
    .where(_FAILURE.c.plan_version == _PLAN.c.version)
    .order_by(_FAILURE.c.first_failed_at, _FAILURE.c.id)
)
