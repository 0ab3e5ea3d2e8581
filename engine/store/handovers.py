"""Handing over open work when someone can no longer act: the grant's removal or the
deactivation, the tasks that wait on the person, and what the cycle finds stranded.

On the driver path, in the write transaction of `leaving` (or of the cycle's `stranded`), like
every plan write's statements (`handover_statements`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.store import handover_statements as sql
from engine.store.driver import Transaction


@dataclass(frozen=True)
class WaitingTask:
    """An open task that may wait on someone: on their signature, or on their role."""

    task_id: int
    plan_id: int
    role: str


@dataclass(frozen=True)
class Stranded:
    """A task left waiting on someone who can no longer act.

    With `user_id` set, an undecided signer who is deactivated or lost the task's role; without,
    a `sign: any` task no active holder of its role at its organisation has.
    """

    task_id: int
    plan_id: int
    plan_version: int
    role: str
    user_id: int | None
    username: str | None
    name: str | None
    user_org_id: int | None
    active: bool | None


@dataclass(frozen=True)
class HandoverFailure:
    """A plan the cycle failed to hand over before (its `cycle_failure` record)."""

    plan_id: int
    plan_version: int  # the plan's version now
    failed_version: int  # its version when it failed
    waiting: bool  # its retry is not due yet


@dataclass(frozen=True)
class StrandedWork:
    tasks: list[Stranded]
    failures: list[HandoverFailure]


def delete_grant(tx: Transaction, *, user_id: int, role: str) -> bool:
    """Take the role from the user; whether they held it."""
    return tx.execute(sql.DELETE_GRANT, {"user_id": user_id, "role": role}).rowcount > 0


def deactivate_user(tx: Transaction, *, user_id: int) -> None:
    tx.execute(sql.DEACTIVATE_USER, {"user_id": user_id})


def undecided_signatures(tx: Transaction, *, user_id: int) -> list[WaitingTask]:
    """Open countersigned tasks on which the user has not decided yet."""
    rows = tx.execute(sql.UNDECIDED_SIGNATURES, {"user_id": user_id})
    return [WaitingTask(row.task_id, row.plan_id, row.role) for row in rows]


def open_any_tasks_at(tx: Transaction, *, org_id: int) -> list[WaitingTask]:
    """Open tasks any one holder of their role at the organisation decides."""
    rows = tx.execute(sql.OPEN_ANY_TASKS_AT, {"org_id": org_id})
    return [WaitingTask(row.task_id, row.plan_id, row.role) for row in rows]


def _stranded(row: object) -> Stranded:
    return Stranded(*(getattr(row, name) for name in Stranded.__dataclass_fields__))


def stranded_work(tx: Transaction, *, now: dt.datetime) -> StrandedWork:
    """Everything stranded, and the plans whose hand-over failed before (one query)."""
    tasks: list[Stranded] = []
    failures: list[HandoverFailure] = []
    for row in tx.execute(sql.STRANDED, {"now": now}):
        if row.task_id is None:
            failures.append(
                HandoverFailure(row.plan_id, row.plan_version, row.failed_version, row.waiting)
            )
        else:
            tasks.append(_stranded(row))
    return StrandedWork(tasks, failures)


def stranded_in_plan(tx: Transaction, *, plan_id: int) -> list[Stranded]:
    """What is stranded in one plan now, by task (the step's own first), then signer."""
    rows = [_stranded(row) for row in tx.execute(sql.STRANDED_IN_PLAN, {"plan_id": plan_id})]
    # Sorted here, so that the order is the same whichever the database.
    rows.sort(key=lambda row: (row.task_id, row.user_id or 0))
    return rows
