"""Tasks and their signers: the decisions a plan waits for, as the write path opens, signs,
moves and closes them.

Every function runs on the driver path (`driver.py`), as the actions' other statements do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from engine.store import handover_statements, statements
from engine.store.driver import Transaction
from engine.store.statuses import TaskStatus


@dataclass(frozen=True)
class OpenTask:
    """The step's own open task: which one, and how it is signed (`SignMode`)."""

    id: int
    sign: str


@dataclass(frozen=True)
class TaskRecord:
    """A task row, as a write reads it back to re-check it under the plan's lock."""

    id: int
    plan_id: int
    state: str
    role: str
    org_id: int
    sign: str
    status: str
    due_at: dt.datetime | None


@dataclass(frozen=True)
class EscalationTask:
    """An open escalation task: holders of its role at its organisation stand in for the step."""

    id: int
    role: str


@dataclass(frozen=True)
class Signer:
    """One signer of a countersigned task (`sign: all|sequence`), in signing order."""

    id: int
    user_id: int
    username: str
    decision: str | None  # the trigger they chose; None: not decided yet
    decided_at: dt.datetime | None


def open_task(tx: Transaction, *, plan_id: int) -> OpenTask | None:
    """The plan's open step task (escalation tasks beside it left out), if any."""
    row = tx.execute(statements.OPEN_TASK, {"plan_id": plan_id}).first()
    return OpenTask(id=row.id, sign=row.sign) if row is not None else None


def task_by_id(tx: Transaction, *, task_id: int) -> TaskRecord | None:
    row = tx.execute(statements.TASK_BY_ID, {"task_id": task_id}).first()
    return TaskRecord(*row) if row is not None else None


def escalations_at(tx: Transaction, *, plan_id: int, org_id: int) -> list[EscalationTask]:
    """The plan's open escalation tasks at one organisation."""
    rows = tx.execute(statements.ESCALATIONS_AT, {"plan_id": plan_id, "org_id": org_id})
    return [EscalationTask(id=row.id, role=row.role) for row in rows]


def insert_task(
    tx: Transaction,
    *,
    plan_id: int,
    state: str,
    role: str,
    org_id: int,
    sign: str,
    opened_at: dt.datetime,
    due_at: dt.datetime | None,
    escalated_from: int | None = None,
) -> int:
    """Open a task (a step's own, or with `escalated_from` an escalation's); its id."""
    task_id: int = tx.execute(
        statements.INSERT_TASK,
        {
            "plan_id": plan_id,
            "state": state,
            "role": role,
            "org_id": org_id,
            "sign": sign,
            "status": TaskStatus.OPEN,
            "opened_at": opened_at,
            "due_at": due_at,
            "escalated_from": escalated_from,
        },
    ).scalar_one()
    return task_id


def close_open_tasks(
    tx: Transaction, *, plan_id: int, at: dt.datetime, by: int | None, trigger: str
) -> None:
    """Close every open task of the plan (the step's and its escalations') with the trigger
    that ended them; `by` is the person, None the system."""
    tx.execute(
        statements.CLOSE_OPEN_TASKS, {"of_plan": plan_id, "at": at, "by": by, "trigger": trigger}
    )


def move_task(tx: Transaction, *, task_id: int, org_id: int) -> None:
    tx.execute(handover_statements.MOVE_TASK, {"task_id": task_id, "to_org": org_id})


def signers(tx: Transaction, *, task_id: int) -> list[Signer]:
    """The task's signers in signing order (none for a `sign: any` task)."""
    return [Signer(*row) for row in tx.execute(statements.SIGNERS, {"task_id": task_id})]


def insert_signers(tx: Transaction, *, task_id: int, user_ids: Sequence[int]) -> None:
    """Ask these people to sign the task, in this order (one executemany)."""
    tx.execute(
        statements.INSERT_SIGNERS,
        [
            {"task_id": task_id, "user_id": user_id, "position": position}
            for position, user_id in enumerate(user_ids)
        ],
    )


def sign(
    tx: Transaction, *, signer_id: int, trigger: str, at: dt.datetime, note: str | None
) -> None:
    """Record a signer's decision (`trigger`) with their comment."""
    tx.execute(
        statements.SIGN, {"signer_id": signer_id, "trigger": trigger, "at": at, "note": note}
    )


def delete_signer(tx: Transaction, *, signer_id: int) -> None:
    tx.execute(handover_statements.DELETE_SIGNER, {"signer_id": signer_id})


def any_decision(tx: Transaction, *, task_id: int) -> bool:
    """Whether any signer has decided on the task yet."""
    return tx.execute(statements.ANY_DECISION, {"task_id": task_id}).first() is not None
