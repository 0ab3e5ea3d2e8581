"""The inbox: open tasks a user may act on now, overdue first; and the plans returned to them.

An escalation task (an overdue step handed to a higher role, see `escalations.py`) is listed to
its holders with what the step's own role may do there, since they may act as that role would,
and marked as escalated. `returned_plans` lists the plans a user owns (drafts) that were sent back
to draft and still wait there, with the return's reason (see `returns.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.core.scope import roles_covering
from engine.core.template.compile import Workflow
from engine.core.template.model import SignMode
from engine.service.directory import find_user, roles_of
from engine.service.plan_views import org_within, reachable_orgs, state_names, subtree
from engine.service.possible import Ask, possible_many
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.writes import owner_roles
from engine.store.inbox_reads import org_paths, signers_of_tasks
from engine.store.people import Org
from engine.store.plan_views import (
    Task,
    open_tasks_for,
    plans_at,
    template_ids,
)
from engine.store.plans import PlanRecord


@dataclass(frozen=True)
class InboxEntry:
    task: Task
    plan: PlanRecord
    org: Org
    state_title: str
    overdue: bool
    triggers: list[str]  # what the user may do here
    # A countersigned step's progress: signers who approved, and signers asked ("2/3 已同意");
    # None for a step one holder decides.
    signed: int | None = None
    asked: int | None = None

    @property
    def escalated(self) -> bool:
        """The user stands in for the step's own role, to which the step was due."""
        return self.task.escalated_from is not None


@dataclass(frozen=True)
class ReturnedPlan:
    """A plan of the user's that was returned to draft and waits there for them."""

    plan: PlanRecord
    org: Org
    state_title: str
    returned: ReturnNote
    actions: list[str]  # what the user may do now (`possible_now`)


@dataclass(frozen=True)
class InboxPage:
    entries: list[InboxEntry]  # this page's, in the inbox's order
    total: int  # entries on every page


def inbox(
    rt: Runtime,
    *,
    actor: str,
    state: str | None = None,
    township: str | None = None,
    year: int | None = None,
    now: dt.datetime | None = None,
) -> list[InboxEntry]:
    """The user's open tasks, overdue first, then by due time. Filters: `state` (a state's name
    or title), `township` (an organisation's code: its plans and those below it), `year`; an
    unknown state or organisation is refused."""
    return inbox_page(rt, actor=actor, state=state, township=township, year=year, now=now).entries


# What one page of the inbox shows, in the API and the pages alike: a phone's screenful several
# times over; overdue steps come first.
PAGE_SIZE = 50


def inbox_page(
    rt: Runtime,
    *,
    actor: str,
    state: str | None = None,
    township: str | None = None,
    year: int | None = None,
    now: dt.datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> InboxPage:
    """`inbox`, `limit` entries from `offset` in its order, and how many there are in all. What
    each entry allows is decided for the page's entries only: a county approver's 200 open steps
    are ordered by their due times, and only the 50 shown are weighed."""
    now = now or rt.now()
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        roles = set(roles_of(tx, user.id))
        states = state_names(rt, tx, state) if state is not None else None
        within = None
        if township is not None:
            reach = reachable_orgs(tx, user, sorted(roles))
            within = subtree(tx, org_within(tx, township, reach).id)
        if not roles:
            return InboxPage(entries=[], total=0)
        rows = [
            (task, plan, org)
            for task, plan, org in open_tasks_for(tx, org_id=user.org_id, roles=roles)
            if (states is None or plan.state in states)
            and (within is None or plan.org_id in within)
            and (year is None or plan.year == year)
        ]
        signed = [t.id for t, _, _ in rows if t.sign != SignMode.ANY]
        # Per countersigned task: who is yet to decide, in signing order, and (decided, asked).
        asked = signers_of_tasks(tx, task_ids=signed)
        waiting = {
            task_id: [s.user_id for s in signers if s.decision is None]
            for task_id, signers in asked.items()
        }
        progress = {
            task_id: (sum(s.decision is not None for s in signers), len(signers))
            for task_id, signers in asked.items()
        }
        mine = []
        for task, plan, org in rows:
            if task.sign != SignMode.ANY:
                pending = waiting.get(task.id, [])
                allowed = pending[:1] if task.sign == SignMode.SEQUENCE else pending
                if user.id not in allowed:
                    continue
            mine.append((task, plan, org, workflow_by_id(rt, tx, plan.template_id)))
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        mine.sort(
            key=lambda row: (
                not _overdue(row[0], now),
                row[0].due_at or far,
                row[0].id,
            )
        )
        mine = _one_task_per_plan(mine)
        total = len(mine)
        mine = mine[offset:] if limit is None else mine[offset : offset + limit]
        # What `act` would accept from this user now (an escalation task's holder acts as the
        # step's own role; guards and signatures are checked), as `plan show` lists it: decided
        # for every entry from data read once for all of them.
        paths = org_paths(tx, org_ids={plan.org_id for _, plan, _, _ in mine})
        asks = {
            plan.id: Ask(
                plan_id=plan.id,
                state=plan.state,
                workflow=workflow,
                roles=roles_covering(
                    workflow.template.roles, roles, user.org_id, paths[plan.org_id]
                ),
            )
            for _, plan, _, workflow in mine
        }
        known = {task_id: asked.get(task_id, []) for task_id in signed}
        possible = possible_many(tx, asks=list(asks.values()), user=user, signers_known=known)
        entries: list[InboxEntry] = []
        for task, plan, org, workflow in mine:
            entries.append(
                InboxEntry(
                    task=task,
                    plan=plan,
                    org=org,
                    state_title=workflow.state(plan.state).title,
                    overdue=_overdue(task, now),
                    triggers=possible[plan.id],
                    signed=progress[task.id][0] if task.id in progress else None,
                    asked=progress[task.id][1] if task.id in progress else None,
                )
            )
        return InboxPage(entries=entries, total=total)


def _overdue(task: Task, now: dt.datetime) -> bool:
    return task.due_at is not None and task.due_at < now


_Row = tuple[Task, PlanRecord, Org, Workflow]


def _one_task_per_plan(rows: list[_Row]) -> list[_Row]:
    """A step is listed once, as the user's own task when it is one, even to someone who also
    holds a role it was escalated to."""
    kept: dict[int, _Row] = {}
    for row in rows:
        first = kept.setdefault(row[1].id, row)
        if first[0].escalated_from is not None and row[0].escalated_from is None:
            kept[row[1].id] = row
    return [row for row in rows if kept[row[1].id] is row]


def returned_plans(rt: Runtime, *, actor: str) -> list[ReturnedPlan]:
    """Plans `actor` owns (holds one of their template's owner roles for) that were returned and
    wait in their initial state, most recently returned first."""
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        held = roles_of(tx, user.id)
        # Only an owner's plans in an initial state can wait on a return: a person who holds no
        # template's owner role has none, and the listing reads only plans in an initial state.
        loaded = [workflow_by_id(rt, tx, t).template for t in template_ids(tx)]
        if not any(set(held) & owner_roles(template) for template in loaded):
            return []
        reach = reachable_orgs(tx, user, held)
        if not reach:
            return []
        initial = {template.initial_state.name for template in loaded}
        waiting = []
        for plan, org in plans_at(tx, org_ids=reach, states=initial):
            workflow = workflow_by_id(rt, tx, plan.template_id)
            if plan.state == workflow.template.initial_state.name:
                waiting.append((plan, org, workflow))
        paths = org_paths(tx, org_ids={plan.org_id for plan, _, _ in waiting})
        found: list[tuple[PlanRecord, Org, Workflow, set[str], ReturnNote]] = []
        for plan, org, workflow in waiting:
            template = workflow.template
            roles = roles_covering(template.roles, held, user.org_id, paths[plan.org_id])
            if not roles & owner_roles(template):
                continue
            returned = last_return(tx, plan_id=plan.id, state=plan.state, workflow=workflow)
            if returned is None:
                continue
            found.append((plan, org, workflow, roles, returned))
        actions = possible_many(
            tx,
            asks=[Ask(p.id, p.state, w, roles) for p, _, w, roles, _ in found],
            user=user,
        )
        listed = [
            ReturnedPlan(plan, org, w.state(plan.state).title, returned, actions[plan.id])
            for plan, org, w, _, returned in found
        ]
        listed.sort(key=lambda entry: entry.returned.at, reverse=True)
        return listed
