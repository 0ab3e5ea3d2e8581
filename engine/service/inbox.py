"""The inbox: open tasks a user may act on now, overdue first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import col, select

from engine.core.template.model import SignMode
from engine.service.directory import find_user, roles_of
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store.tables import Organisation, Plan, Task, TaskSigner, TaskStatus


@dataclass(frozen=True)
class InboxEntry:
    task: Task
    plan: Plan
    org: Organisation
    state_title: str
    overdue: bool
    triggers: list[str]  # what the user may do here


def inbox(rt: Runtime, *, actor: str, now: dt.datetime | None = None) -> list[InboxEntry]:
    now = now or rt.now()
    with rt.database.session() as session:
        user = find_user(session, actor)
        assert user.id is not None
        roles = set(roles_of(session, user.id))
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
        )
        entries: list[InboxEntry] = []
        for task, plan, org in rows:
            if task.sign != SignMode.ANY:
                signers = list(
                    session.exec(
                        select(TaskSigner)
                        .where(TaskSigner.task_id == task.id)
                        .order_by(col(TaskSigner.position))
                    )
                )
                waiting = [s.user_id for s in signers if s.decision is None]
                allowed = waiting[:1] if task.sign == SignMode.SEQUENCE else waiting
                if user.id not in allowed:
                    continue
            workflow = workflow_by_id(rt, session, plan.template_id)
            triggers = workflow.human_triggers(plan.state, [task.role])
            entries.append(
                InboxEntry(
                    task=task,
                    plan=plan,
                    org=org,
                    state_title=workflow.state(plan.state).title,
                    overdue=task.due_at is not None and task.due_at < now,
                    triggers=triggers,
                )
            )
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        entries.sort(key=lambda e: (not e.overdue, e.task.due_at or far, e.task.id or 0))
        return entries
