"""What the inbox's filters offer a person: the steps a task can wait in (by state name, with its
title, from every loaded template) and the townships below them (organisations in their subtree
that have organisations below them, the top one not), so a page can list them as choices."""

from __future__ import annotations

from dataclasses import dataclass

from engine.service.directory import find_user
from engine.service.runtime import Runtime
from engine.service.templates import workflow_by_id
from engine.store.inbox_reads import inner_orgs_below
from engine.store.people import Org
from engine.store.plan_views import template_ids


@dataclass(frozen=True)
class InboxChoices:
    states: list[tuple[str, str]]  # (name, title) of the states with a task, in template order
    townships: list[Org]  # by name


def inbox_choices(rt: Runtime, *, actor: str) -> InboxChoices:
    with rt.database.read() as tx:
        user = find_user(tx, actor)
        states: dict[str, str] = {}
        for template_id in template_ids(tx):
            for state in workflow_by_id(rt, tx, template_id).template.states.values():
                if state.task is not None:
                    states.setdefault(state.name, state.title)
        townships = inner_orgs_below(tx, org_id=user.org_id)
    townships.sort(key=lambda org: org.name)
    return InboxChoices(states=list(states.items()), townships=townships)
