"""The inbox: open tasks a user may act on now, overdue first; and the plans returned to them.

An escalation task (an overdue step handed to a higher role, see `escalations.py`) is listed to
its holders with what the step's own role may do there, since they may act as that role would,
and marked as escalated. `returned_plans` lists the plans a user owns (drafts) that were sent back
to draft and still wait there, with the return's reason (see `returns.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from engine.core.scope import roles_covering
from engine.core.template.model import SignMode
from engine.service.directory import find_user, org_path, roles_of
from engine.service.plans import reachable_orgs
from engine.service.possible import possible_now
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.writes import owner_roles
from engine.store.driver import Transaction
from engine.store.statuses import TaskStatus
from engine.store.tables import Organisation, Plan, Task, TaskSigner


@dataclass(frozen=True)
class InboxEntry:
    task: Task
    plan: Plan
    org: Organisation
    state_title: str
    overdue: bool
    triggers: list[str]  # what the user may do here

    @property
    def escalated(self) -> bool:
        """The user stands in for the step's own role, to which the step was due."""
        return self.task.escalated_from is not None


@dataclass(frozen=True)
class ReturnedPlan:
    """A plan of the user's that was returned to draft and waits there for them."""

    plan: Plan
    org: Organisation
    state_title: str
    returned: ReturnNote
    actions: list[str]  # what the user may do now (`possible_now`)


def inbox(rt: Runtime, *, actor: str, now: dt.datetime | None = None) -> list[InboxEntry]:
    now = now or rt.now()
    with rt.database.session() as session:
        user = find_user(Transaction.of(session), actor)
        assert user.id is not None
        roles = set(roles_of(Transaction.of(session), user.id))
        if not roles:
            return []
        rows = session.exec(
            select(Task, Plan, Organisation)
            .join(Plan, col(Plan.id) == Task.plan_id)
            .join(Organisation, col(Organisation.id) == Plan.org_id)
            .where(
                Task.status == TaskStatus.OPEN,
                Task.org_id == user.org_id,
                col(Task.role).in_(roles),
            )
        ).all()
        waiting = _waiting_signers(session, [t.id for t, _, _ in rows if t.sign != SignMode.ANY])
        tx = Transaction.of(session)
        entries: list[InboxEntry] = []
        for task, plan, org in rows:
            if task.sign != SignMode.ANY:
                pending = waiting.get(task.id or 0, [])
                allowed = pending[:1] if task.sign == SignMode.SEQUENCE else pending
                if user.id not in allowed:
                    continue
            workflow = workflow_by_id(rt, session, plan.template_id)
            step = workflow.state(plan.state)
            # What `act` would accept from this user now (an escalation task's holder acts as the
            # step's own role; guards and signatures are checked), as `plan show` lists it.
            path = org_path(tx, plan.org_id)
            triggers = possible_now(
                tx,
                plan_id=task.plan_id,
                state=plan.state,
                workflow=workflow,
                user=user,
                roles=roles_covering(workflow.template.roles, roles, user.org_id, path),
            )
            entries.append(
                InboxEntry(
                    task=task,
                    plan=plan,
                    org=org,
                    state_title=step.title,
                    overdue=task.due_at is not None and task.due_at < now,
                    triggers=triggers,
                )
            )
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        entries.sort(key=lambda e: (not e.overdue, e.task.due_at or far, e.task.id or 0))
        return _one_per_plan(entries)


def _one_per_plan(entries: list[InboxEntry]) -> list[InboxEntry]:
    """A step is listed once, as the user's own task when it is one, even to someone who also
    holds a role it was escalated to."""
    kept: dict[int | None, InboxEntry] = {}
    for entry in entries:
        first = kept.setdefault(entry.plan.id, entry)
        if first.escalated and not entry.escalated:
            kept[entry.plan.id] = entry
    return [entry for entry in entries if kept[entry.plan.id] is entry]


def _waiting_signers(session: Session, task_ids: list[int | None]) -> dict[int, list[int]]:
    """Per countersigned task, the signers yet to decide, in signing order: one query for all."""
    waiting: dict[int, list[int]] = {}
    if not task_ids:
        return waiting
    for signer in session.exec(
        select(TaskSigner)
        .where(col(TaskSigner.task_id).in_(task_ids), col(TaskSigner.decision).is_(None))
        .order_by(col(TaskSigner.task_id), col(TaskSigner.position))
    ):
        waiting.setdefault(signer.task_id, []).append(signer.user_id)
    return waiting


def returned_plans(rt: Runtime, *, actor: str) -> list[ReturnedPlan]:
    """Plans `actor` owns (holds one of their template's owner roles for) that were returned and
    wait in their initial state, most recently returned first."""
    with rt.database.session() as session:
        user = find_user(Transaction.of(session), actor)
        assert user.id is not None
        held = roles_of(Transaction.of(session), user.id)
        reach = reachable_orgs(session, user) if held else set()
        if not reach:
            return []
        tx = Transaction.of(session)
        found: list[ReturnedPlan] = []
        rows = session.exec(
            select(Plan, Organisation)
            .join(Organisation, col(Organisation.id) == Plan.org_id)
            .where(col(Plan.org_id).in_(reach))
            .order_by(col(Plan.id))
        )
        for plan, org in rows:
            assert plan.id is not None
            workflow = workflow_by_id(rt, session, plan.template_id)
            template = workflow.template
            if plan.state != template.initial_state.name:
                continue
            roles = roles_covering(template.roles, held, user.org_id, org_path(tx, plan.org_id))
            if not roles & owner_roles(template):
                continue
            returned = last_return(session, plan_id=plan.id, state=plan.state, workflow=workflow)
            if returned is None:
                continue
            actions = possible_now(
                tx, plan_id=plan.id, state=plan.state, workflow=workflow, user=user, roles=roles
            )
            state_title = workflow.state(plan.state).title
            found.append(ReturnedPlan(plan, org, state_title, returned, actions))
        found.sort(key=lambda entry: entry.returned.at, reverse=True)
        return found
