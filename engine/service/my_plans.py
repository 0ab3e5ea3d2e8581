"""A drafter's own plans (我的计划): the plans a person owns, newest first, each with its state and,
when it waits in draft because it was returned, who returned it and why.

A person owns a plan when they hold one of its template's owner roles (`writes.owner_roles`: who
may act on it in its initial state) with the plan in that role's scope. Someone who owns none
(an approver) has no plans of their own: the listing is empty, not everything they may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.scope import roles_covering
from engine.service.directory import find_user, org_path, roles_of
from engine.service.plan_views import reachable_orgs
from engine.service.returns import ReturnNote, last_return
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.service.writes import owner_roles
from engine.store.people import Org
from engine.store.plan_views import plans_at, template_ids
from engine.store.plans import PlanRecord

_SHOWN = 500  # newest plans looked at: a drafter writes one a year


@dataclass(frozen=True)
class OwnPlan:
    plan: PlanRecord
    org: Org
    state_title: str
    returned: ReturnNote | None  # why it waits in draft, when it was returned


def my_plans(rt: Runtime, *, actor: str, year: int | None = None) -> list[OwnPlan]:
    """The plans `actor` owns, newest first (of one `year`, if given)."""
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        held = roles_of(tx, user.id)
        owning = set(held) & {
            role
            for template_id in template_ids(tx)
            for role in owner_roles(workflow_by_id(rt, tx, template_id).template)
        }
        if not owning:
            return []
        reach = reachable_orgs(tx, user, held)
        found: list[OwnPlan] = []
        for plan, org in plans_at(tx, org_ids=reach, year=year, newest_first=True, limit=_SHOWN):
            workflow = workflow_by_id(rt, tx, plan.template_id)
            template = workflow.template
            roles = roles_covering(template.roles, held, user.org_id, org_path(tx, plan.org_id))
            if not roles & owner_roles(template):
                continue
            returned = last_return(tx, plan_id=plan.id, state=plan.state, workflow=workflow)
            found.append(OwnPlan(plan, org, workflow.state(plan.state).title, returned))
        return found
