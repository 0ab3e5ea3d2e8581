"""Escalations: an overdue task handed to a higher role, as a sweep like the timers'.

When a task opens, each level of its `escalate` chain is stored as a reminder row of kind
`TASK_ESCALATION` (see `steps._open_task`). `fire_due_escalations` finds the levels due now and
carries each out as the system, in one `write_plan` transaction under the plan's lock: it opens
an escalation task for the level's role at the nearest organisation within that role's scope
that has a holder (its holders may then act on the step as the task's own role), marks the level
sent, and plans a `task_escalated` notice that the dispatch sweep sends like any reminder. The
audit log records it as the action "escalate". Everything is re-checked under the lock, so two
sweeps, or one run twice, escalate once. A level nobody can take is marked dead with the reason,
for an operator to retry once the role is granted. Any other failure (a conflict, a database
error, a bug) is logged with the plan id and recorded for operators (`cycle_failures`); the level
stays planned and is retried after a back-off, after every level that never failed, so one plan's
failure never stops the sweep and failing levels never starve the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.core.errors import ActionRefused, PlanflowError
from engine.core.messages import ReminderKind
from engine.core.planning import PlannedTaskReminder
from engine.core.template.model import SignMode
from engine.service.cycle_failures import (
    Failed,
    describe,
    escalation_subject,
    forget_failure,
    forget_stale_failures,
    record_failure,
)
from engine.service.directory import nearest_holders
from engine.service.runtime import Runtime
from engine.service.steps import store_task_reminders
from engine.service.writes import Change, WriteContext, write_plan
from engine.store.people import org_by_id
from engine.store.reminders import due_escalations, reminder_level, settle_reminder
from engine.store.statuses import CycleStep, ReminderStatus, TaskStatus
from engine.store.tasks import insert_task, task_by_id

log = logging.getLogger(__name__)


ESCALATE_ACTION = "escalate"


@dataclass(frozen=True)
class EscalationOutcome:
    reminder_id: int  # the escalation level's reminder row
    plan_id: int
    task_id: int | None = None  # the escalation task opened; None when it failed
    error: str | None = None  # None: escalated


class _AlreadySettled(Exception):
    """Under the lock the level turned out to be settled already: nothing to do, nothing written."""

    def __init__(self, *, task_closed: bool) -> None:
        super().__init__("already settled")
        self.task_closed = task_closed


def fire_due_escalations(rt: Runtime, *, limit: int = 1000) -> list[EscalationOutcome]:
    """Carry out every escalation level due now, each in its own transaction, as the system.

    Levels found settled under the lock (a concurrent sweep did them, or their task closed) are
    left out of the outcomes: nothing happened to them here.
    """
    forget_stale_failures(rt, CycleStep.ESCALATION)
    with rt.database.read() as tx:
        levels = [
            (_Level(due.id, due.plan_id, due.plan_version), due.failed_before)
            for due in due_escalations(tx, now=rt.now(), limit=limit)
        ]
    outcomes: list[EscalationOutcome] = []
    for level, failed_before in levels:
        outcome = _fire(rt, level)
        # (a level that failed and is now dead is forgotten by the next cycle's purge)
        if failed_before and (outcome is None or outcome.error is None):
            forget_failure(rt, escalation_subject(level.reminder_id))
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class _Level:
    reminder_id: int
    plan_id: int
    plan_version: int


def _fire(rt: Runtime, level: _Level) -> EscalationOutcome | None:
    reminder_id, plan_id = level.reminder_id, level.plan_id
    try:
        result = write_plan(
            rt,
            plan_id=plan_id,
            actor=None,
            request={"action": ESCALATE_ACTION, "reminder": reminder_id},
            change=lambda ctx: _escalate(ctx, reminder_id),
        )
    except _AlreadySettled as settled:
        if settled.task_closed:
            # Closing a task cancels its levels (`steps.leave_state`); a level left planned
            # (stored before that rule) is cancelled here, so it is not looked at again.
            _settle(rt, reminder_id, ReminderStatus.CANCELLED, "the task closed before it was due")
        return None
    except PlanflowError as error:
        reason = describe(error)  # stored and logged for operators, in English
        log.warning("escalation #%d of plan #%d: %s", reminder_id, plan_id, reason)
        if not error.retryable:  # nobody to take it: an operator must act, then retry it
            _settle(rt, reminder_id, ReminderStatus.DEAD, reason)
            return EscalationOutcome(reminder_id, plan_id, error=reason)
        _record(rt, level, reason)
        return EscalationOutcome(reminder_id, plan_id, error=reason)
    except Exception as error:  # the database or a bug: left planned, tried again after a while
        message = describe(error)
        log.exception("escalation #%d of plan #%d failed: %s", reminder_id, plan_id, message)
        _record(rt, level, message)
        return EscalationOutcome(reminder_id, plan_id, error=message)
    assert result.detail is not None
    return EscalationOutcome(reminder_id, plan_id, task_id=result.detail["escalation_task"])


def _record(rt: Runtime, level: _Level, message: str) -> None:
    subject = escalation_subject(level.reminder_id)
    failed = Failed(
        subject,
        CycleStep.ESCALATION,
        level.plan_id,
        level.plan_version,
        reminder_id=level.reminder_id,
    )
    record_failure(rt, failed, message)


def _escalate(ctx: WriteContext, reminder_id: int) -> Change:
    level = reminder_level(ctx.tx, reminder_id=reminder_id)
    assert level is not None  # reminders are never deleted
    if level.status != ReminderStatus.PLANNED:
        raise _AlreadySettled(task_closed=False)
    assert level.task_id is not None and level.recipient_role is not None
    task = task_by_id(ctx.tx, task_id=level.task_id)
    assert task is not None  # tasks are never deleted
    if task.status != TaskStatus.OPEN:
        raise _AlreadySettled(task_closed=True)
    template = ctx.workflow.template
    step = template.states[task.state]
    role = template.roles[level.recipient_role]
    holders = nearest_holders(ctx.tx, role, ctx.path)
    if holders is None:
        org = org_by_id(ctx.tx, org_id=ctx.path[0])
        raise ActionRefused(
            "nobody holds the role {role} ({role_title}) for {org}, so the overdue step "
            "{state_title} ({state}) of plan #{plan_id} cannot be escalated to it; grant the "
            "role (planflow user grant), then retry this reminder "
            "(planflow reminders retry {reminder_id})",
            code="escalation.no_holder",
            role=role.name,
            role_title=role.title,
            org=org.name if org is not None else "?",
            state=step.name,
            state_title=step.title,
            plan_id=ctx.plan_id,
            reminder_id=reminder_id,
        )
    escalation_task = insert_task(
        ctx.tx,
        plan_id=ctx.plan_id,
        state=task.state,
        role=role.name,
        org_id=holders.org_id,
        sign=SignMode.ANY,  # a stand-in decides for the step alone
        opened_at=ctx.now,
        # The step was due then; the inbox shows the escalation task as overdue from the start.
        due_at=task.due_at or ctx.now,
        escalated_from=task.id,
    )
    settle_reminder(
        ctx.tx, reminder_id=reminder_id, status=ReminderStatus.SENT, at=ctx.now, error=None
    )
    notice = PlannedTaskReminder(
        key=f"{level.key}:notice",
        plan_id=ctx.plan_id,
        task_id=escalation_task,
        kind=ReminderKind.TASK_ESCALATED,
        role=role.name,
        fire_at=ctx.now,
    )
    store_task_reminders(ctx.tx, [notice], now=ctx.now)
    org = org_by_id(ctx.tx, org_id=holders.org_id)
    assert org is not None
    return Change(
        action=ESCALATE_ACTION,
        from_state=ctx.plan.state,
        to_state=ctx.plan.state,
        comment=None,
        detail={
            "task": task.id,
            "escalation_task": escalation_task,
            "role": role.name,
            "org": org.code,
            "org_name": org.name,
        },
    )


def _settle(rt: Runtime, reminder_id: int, status: ReminderStatus, reason: str) -> None:
    """Record why a level was not carried out, in its own small transaction."""
    with rt.database.transaction() as tx:
        settle_reminder(tx, reminder_id=reminder_id, status=status, at=None, error=reason)
