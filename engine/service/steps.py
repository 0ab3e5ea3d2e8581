"""Entering and leaving a plan's states: the steps' tasks and the reminders that go with them.

Entering a state with a task opens it for the role's nearest holders (with its signers, when the
step is countersigned), due in working days, and stores its notices, nudges and escalation
levels; entering a state whose items are live plans the items' reminders. Leaving it closes the
step's task and its escalations, and cancels what of their reminders and the items' has not gone
out. Every write that moves a plan (`actions.act`, `leaving`, a new plan in `plans`) goes
through here, inside `write_plan`'s transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from engine.core.errors import ActionRefused
from engine.core.planning import (
    PlannedTaskReminder,
    diff_reminders,
    item_reminder_kind,
    plan_item_reminders,
    plan_task_reminders,
    task_due_at,
)
from engine.core.template.model import SignMode, State
from engine.service.directory import nearest_holders
from engine.service.timezones import plan_timezone
from engine.service.writes import WriteContext
from engine.store import Transaction
from engine.store.facts import item_schedules
from engine.store.people import org_by_id
from engine.store.reminders import (
    cancel_item_reminders,
    cancel_planned_reminders,
    cancel_task_reminders,
    insert_item_reminders,
    insert_task_reminders,
    revive_reminders,
    stored_reminders,
)
from engine.store.statuses import ReminderStatus
from engine.store.tasks import close_open_tasks, insert_signers, insert_task


def leave_state(ctx: WriteContext, state: State, trigger: str) -> None:
    if state.task is not None:
        # The step's task and any escalation tasks beside it close together, and with them go
        # their nudges, overdue notices and escalation levels not carried out yet.
        close_open_tasks(
            ctx.tx,
            plan_id=ctx.plan_id,
            at=ctx.now,
            by=ctx.user.id if ctx.user else None,
            trigger=trigger,
        )
        # Every task has reminders: at least its new-task notice, which may not have gone out.
        cancel_task_reminders(ctx.tx, plan_id=ctx.plan_id)
    if state.items_live:
        cancel_item_reminders(ctx.tx, plan_id=ctx.plan_id)


def enter_state(ctx: WriteContext, state: State) -> None:
    if state.task is not None:
        _open_task(ctx, state)
    if state.items_live:
        plan_reminders(ctx)


def _open_task(ctx: WriteContext, state: State) -> None:
    spec = state.task
    assert spec is not None
    template = ctx.workflow.template
    role = template.roles[spec.role]
    holders = nearest_holders(ctx.tx, role, ctx.path)
    if holders is None:
        org = org_by_id(ctx.tx, org_id=ctx.path[0])
        raise ActionRefused(
            "nobody holds the role {role} ({role_title}) for {org}, so the step {state_title} "
            "({state}) would have no one to act; grant the role first (planflow user grant)",
            code="task.no_holder",
            role=spec.role,
            role_title=role.title,
            org=org.name if org is not None else "?",
            state=state.name,
            state_title=state.title,
            plan_id=ctx.plan_id,
        )
    tz = plan_timezone(ctx.rt, template)
    due_at = task_due_at(opened_at=ctx.now, spec=spec, tz=tz, calendar=ctx.rt.calendar)
    task_id = insert_task(
        ctx.tx,
        plan_id=ctx.plan_id,
        state=state.name,
        role=spec.role,
        org_id=holders.org_id,
        sign=spec.sign,
        opened_at=ctx.now,
        due_at=due_at,
    )
    if spec.sign != SignMode.ANY:
        insert_signers(ctx.tx, task_id=task_id, user_ids=holders.user_ids)
    store_task_reminders(
        ctx.tx,
        plan_task_reminders(
            plan_id=ctx.plan_id,
            task_id=task_id,
            opened_at=ctx.now,
            due_at=due_at,
            spec=spec,
            tz=tz,
            calendar=ctx.rt.calendar,
        ),
        now=ctx.now,
    )


def store_task_reminders(
    tx: Transaction, planned: Sequence[PlannedTaskReminder], *, now: dt.datetime
) -> None:
    """Store task reminders as planned rows (in one executemany, as `plan_reminders` does)."""
    insert_task_reminders(tx, reminders=planned, at=now)


def plan_reminders(ctx: WriteContext) -> None:
    """Store the plan's future item reminders; rows already stored under a key are kept."""
    template = ctx.workflow.template
    planned = plan_item_reminders(
        plan_id=ctx.plan_id,
        year=ctx.plan.year,
        rules=template.reminders,
        items=item_schedules(ctx.tx, plan_id=ctx.plan_id),
        tz=plan_timezone(ctx.rt, template),
        calendar=ctx.rt.calendar,
    )
    existing = {
        r.key: r for r in stored_reminders(ctx.tx, plan_id=ctx.plan_id) if r.item_id is not None
    }
    to_add, obsolete = diff_reminders(set(existing), planned)
    insert_item_reminders(
        ctx.tx,
        # One already past was never due while the plan was live: nothing to catch up.
        reminders=[occurrence for occurrence in to_add if occurrence.fire_at > ctx.now],
        kinds=[item_reminder_kind(rule) for rule in template.reminders],
        at=ctx.now,
    )
    revive_reminders(
        ctx.tx,
        reminder_ids=[
            existing[occurrence.key].id
            for occurrence in planned
            if occurrence.fire_at > ctx.now
            and occurrence.key in existing
            and existing[occurrence.key].status == ReminderStatus.CANCELLED
        ],
    )
    cancel_planned_reminders(ctx.tx, reminder_ids=[existing[key].id for key in sorted(obsolete)])
