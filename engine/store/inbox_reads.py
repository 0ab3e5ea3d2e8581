"""Reads for many plans at once, for the listings that decide what a person may do on each of
them (the inbox, the returned plans): the organisations' paths, the plans' open step tasks, their
open escalation tasks at one organisation, the countersigned tasks' signers, and the facts the
guards read. Each is one statement whatever the number of plans, so a listing's statement count
does not grow with its length.

The lists of ids go as `IN` lists, which the driver path cannot send: these run as Core on the
transaction's connection. On PostgreSQL a list is one array parameter (`= ANY(:ids)`), so the
statement's text is the same whatever the list (SQLAlchemy renders an `IN` list's 200 parameters
into a new text each time, which psycopg then parses again: a third of a 200-task inbox's time).
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from engine.store.driver import Transaction
from engine.store.facts import GoalFact, ItemFact
from engine.store.people import Org
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
_IDS = postgresql.ARRAY(sa.Integer)
_TASK = table_of(_TaskTable)
_SIGNER = table_of(_SignerTable)
_USER = table_of(_UserTable)
_GOAL = table_of(_GoalTable)
_ITEM = table_of(_ItemTable)


def _among(
    tx: Transaction, column: sa.ColumnElement[int], ids: Collection[int]
) -> sa.ColumnElement[bool]:
    """`column IN ids`: one array parameter on PostgreSQL, an `IN` list elsewhere."""
    listed = sorted(set(ids))
    if tx.connection.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam("ids", listed, type_=_IDS))
    return column.in_(listed)


def org_paths(tx: Transaction, *, org_ids: Collection[int]) -> dict[int, list[int]]:
    """For each organisation, its id, then its parent's, up to the root (as `people.org_path`).

    One query per level of the tree, for all of them together: the organisations asked, then
    their parents, and so on (a recursive query over a list had PostgreSQL hash the whole
    organisation table: 3-16 ms at 10,000 organisations, against well under 1 ms per level).
    """
    parent: dict[int, int | None] = {}
    frontier = set(org_ids)
    while frontier:
        query = sa.select(_ORG.c.id, _ORG.c.parent_id).where(_among(tx, _ORG.c.id, frontier))
        rows = tx.connection.execute(query).all()
        parent.update({row.id: row.parent_id for row in rows})
        # A parent already read (or a cycle, in a corrupt tree) is not asked for again.
        frontier = {row.parent_id for row in rows if row.parent_id is not None} - parent.keys()
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
            _among(tx, _TASK.c.plan_id, plan_ids),
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
            _among(tx, _TASK.c.plan_id, plan_ids),
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
        .where(_among(tx, _SIGNER.c.task_id, task_ids))
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
        .where(_among(tx, _GOAL.c.plan_id, plan_ids))
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
        .where(_among(tx, _ITEM.c.plan_id, plan_ids))
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
        .where(_among(tx, _SIGNER.c.task_id, task_ids), _SIGNER.c.decision.is_not(None))
        .distinct()
    )
    return set(tx.connection.execute(query).scalars())


def _below(org_id: int) -> sa.CTE:
    """(id, parent_id) of the organisation and every organisation below it."""
    down = (
        sa.select(_ORG.c.id, _ORG.c.parent_id)
        .where(_ORG.c.id == org_id)
        .cte("down", recursive=True)
    )
    # UNION, not UNION ALL: even a corrupt tree with a cycle ends.
    return down.union(
        sa.select(_ORG.c.id, _ORG.c.parent_id).join(down, _ORG.c.parent_id == down.c.id)
    )


def subtree_ids(tx: Transaction, *, org_id: int) -> set[int]:
    """The organisation and every organisation below it, in one recursive query (the tree's
    other branches are not read)."""
    down = _below(org_id)
    return set(tx.connection.execute(sa.select(down.c.id)).scalars())


def inner_orgs_below(tx: Transaction, *, org_id: int) -> list[Org]:
    """The organisations of the subtree at `org_id` (it included) that have organisations below
    them and one above them, by id."""
    down = _below(org_id)
    # Every organisation of the subtree but its top has its parent in it: the parents named
    # there are exactly the subtree's organisations with one below them.
    parents = sa.select(down.c.parent_id).where(down.c.id != org_id)
    query = (
        sa.select(_ORG.c.id, _ORG.c.code, _ORG.c.name, _ORG.c.parent_id)
        .where(_ORG.c.id.in_(parents), _ORG.c.parent_id.is_not(None))
        .order_by(_ORG.c.id)
    )
    return [Org(*row) for row in tx.connection.execute(query)]
