"""Reads for many plans at once, for the listings that decide what a person may do on each of
them (the inbox, the returned plans): the organisations' paths, the plans' open step tasks, their
open escalation tasks at one organisation, the countersigned tasks' signers, and the facts the
guards read. Each is one statement whatever the number of plans, so a listing's statement count
does not grow with its length.

The lists of ids go as `IN` lists, which the driver path cannot send: these run as Core on the
transaction's connection.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.facts import GoalFact, ItemFact
from engine.store.statements import table_of
from engine.store.statuses import TaskStatus
from engine.store.tables import Goal as _GoalTable
from engine.store.tables import MonthlyItem as _ItemTable
from engine.store.tables import Organisation as _OrgTable
from engine.store.tables import Task as _TaskTable
from engine.store.tables import TaskSigner as _SignerTable
from engine.store.tables import User as _UserTable
from engine.store.tasks import EscalationTask, OpenTask, Signer

_ORG = table_of(_OrgTable)
_TASK = table_of(_TaskTable)
_SIGNER = table_of(_SignerTable)
_USER = table_of(_UserTable)
_GOAL = table_of(_GoalTable)
_ITEM = table_of(_ItemTable)


def org_paths(tx: Transaction, *, org_ids: Collection[int]) -> dict[int, list[int]]:
    """For each organisation, its id, then its parent's, up to the root (as `people.org_path`),
    read in one recursive query over all of them."""
    if not org_ids:
        return {}
    up = (
        sa.select(_ORG.c.id, _ORG.c.parent_id)
        .where(_ORG.c.id.in_(sorted(set(org_ids))))
        .cte("up", recursive=True)
    )
    # UNION, not UNION ALL: even a corrupt tree with a cycle ends.
    up = up.union(sa.select(_ORG.c.id, _ORG.c.parent_id).join(up, _ORG.c.id == up.c.parent_id))
    parent = {row.id: row.parent_id for row in tx.connection.execute(sa.select(up))}
    paths: dict[int, list[int]] = {}
    for org_id in org_ids:
        path: list[int] = []
        current: int | None = org_id
        while current is not None and current not in path:
            path.append(current)
            current = parent.get(current)
        paths[org_id] = path
    return paths


def open_step_tasks(tx: Transaction, *, plan_ids: Collection[int]) -> dict[int, OpenTask]:
    """Each plan's open step task (escalation tasks left out), for the plans that have one."""
    if not plan_ids:
        return {}
    query = (
        sa.select(_TASK.c.plan_id, _TASK.c.id, _TASK.c.sign)
        .where(
            _TASK.c.plan_id.in_(sorted(set(plan_ids))),
            _TASK.c.status == TaskStatus.OPEN.value,
            _TASK.c.escalated_from.is_(None),
        )
        .order_by(_TASK.c.id.desc())
    )
    # By id descending, so that the oldest wins should a plan hold two (`open_task`'s first).
    return {row.plan_id: OpenTask(id=row.id, sign=row.sign) for row in tx.connection.execute(query)}


def escalations_of(
    tx: Transaction, *, plan_ids: Collection[int], org_id: int
) -> dict[int, list[EscalationTask]]:
    """Each plan's open escalation tasks at one organisation (as `tasks.escalations_at`)."""
    found: dict[int, list[EscalationTask]] = {}
    if not plan_ids:
        return found
    query = (
        sa.select(_TASK.c.plan_id, _TASK.c.id, _TASK.c.role)
        .where(
            _TASK.c.plan_id.in_(sorted(set(plan_ids))),
            _TASK.c.status == TaskStatus.OPEN.value,
            _TASK.c.escalated_from.is_not(None),
            _TASK.c.org_id == org_id,
        )
        .order_by(_TASK.c.id)
    )
    for row in tx.connection.execute(query):
        found.setdefault(row.plan_id, []).append(EscalationTask(id=row.id, role=row.role))
    return found


def signers_of_tasks(tx: Transaction, *, task_ids: Collection[int]) -> dict[int, list[Signer]]:
    """Each task's signers in signing order (as `tasks.signers`); a task without any is absent."""
    found: dict[int, list[Signer]] = {}
    if not task_ids:
        return found
    query = (
        sa.select(
            _SIGNER.c.task_id,
            _SIGNER.c.id,
            _SIGNER.c.user_id,
            _USER.c.username,
            _SIGNER.c.decision,
            _SIGNER.c.decided_at,
        )
        .join(_USER, _USER.c.id == _SIGNER.c.user_id)
        .where(_SIGNER.c.task_id.in_(sorted(set(task_ids))))
        .order_by(_SIGNER.c.task_id, _SIGNER.c.position)
    )
    for row in tx.connection.execute(query):
        found.setdefault(row.task_id, []).append(Signer(*row[1:]))
    return found


def goal_facts_of(tx: Transaction, *, plan_ids: Collection[int]) -> dict[int, list[GoalFact]]:
    """Each plan's goals as the guards read them (`facts.goal_facts`)."""
    found: dict[int, list[GoalFact]] = {plan_id: [] for plan_id in plan_ids}
    if not plan_ids:
        return found
    query = (
        sa.select(_GOAL.c.plan_id, _GOAL.c.title, _GOAL.c.actual)
        .where(_GOAL.c.plan_id.in_(sorted(set(plan_ids))))
        .order_by(_GOAL.c.plan_id, _GOAL.c.position)
    )
    for row in tx.connection.execute(query):
        found[row.plan_id].append(GoalFact(row.title, row.actual))
    return found


def item_facts_of(tx: Transaction, *, plan_ids: Collection[int]) -> dict[int, list[ItemFact]]:
    """Each plan's monthly items in their order, as the guards read them (`facts.item_facts`)."""
    found: dict[int, list[ItemFact]] = {plan_id: [] for plan_id in plan_ids}
    if not plan_ids:
        return found
    query = (
        sa.select(_ITEM.c.plan_id, _ITEM.c.month, _ITEM.c.title, _ITEM.c.status)
        .where(_ITEM.c.plan_id.in_(sorted(set(plan_ids))))
        .order_by(_ITEM.c.plan_id, _ITEM.c.position)
    )
    for row in tx.connection.execute(query):
        found[row.plan_id].append(ItemFact(row.month, row.title, row.status))
    return found


def decided_tasks(tx: Transaction, *, task_ids: Collection[int]) -> set[int]:
    """Of these tasks, those on which a signer has decided (`tasks.any_decision` for each)."""
    if not task_ids:
        return set()
    query = (
        sa.select(_SIGNER.c.task_id)
        .where(_SIGNER.c.task_id.in_(sorted(set(task_ids))), _SIGNER.c.decision.is_not(None))
        .distinct()
    )
    return set(tx.connection.execute(query).scalars())
