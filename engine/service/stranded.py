"""The cycle's hand-over sweep: open work left waiting on someone who can no longer act.

`revoke_role` and `deactivate_user` (`leaving`) hand over what waits on the person in their own
transaction, but on PostgreSQL an action that read the role holders just before the revocation
committed can still open a task, or a signer list, naming them afterwards. Row locks on the
action path would risk deadlocks with the revocation (it deletes the grant, then locks plans),
so the scheduler's cycle mends it instead: `hand_over_stranded` finds every undecided signer who
is deactivated or no longer holds the task's role, and every open `sign: any` task no active
holder of its role has any more, and hands each over exactly as the commands would
(`leaving.hand_over_plan`: the same `reassign` audit rows by the system, with a reason saying the
sweep found it).

One query finds them (`store.handovers.stranded_work`, anti-joins over the open tasks): with
nothing stranded that is all a cycle costs. Each plan is handed over in its own transaction,
under its lock, re-checked there. A plan that cannot be handed over (nobody left to take a step,
or anything else failing) is rolled back, recorded like the cycle's other failures
(`cycle_failures`, `planflow cycle failures`) and retried after a back-off or at once when the
plan changes, never flooding its audit log; the others go on. Its record is deleted once the
plan is handed over or nothing of it is stranded any more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.core.errors import PlanflowError
from engine.service.cycle_failures import Failed, describe, forget_failure, record_failure
from engine.service.leaving import Leaving, hand_over_plan
from engine.service.runtime import Runtime
from engine.store import Transaction
from engine.store.handovers import HandoverFailure, Stranded, stranded_in_plan, stranded_work
from engine.store.people import Person, org_by_id
from engine.store.plans import lock_plan
from engine.store.statuses import CycleStep
from engine.store.tasks import task_by_id

log = logging.getLogger(__name__)

FOUND_BY = "found by the scheduler's cycle"


@dataclass(frozen=True)
class HandoverOutcome:
    plan_id: int
    writes: int = 0  # audit rows written (a `reassign` per task, an `approve` per completed round)
    error: str | None = None  # None: handed over


def handover_subject(plan_id: int) -> str:
    return f"{CycleStep.HANDOVER}:{plan_id}"


def hand_over_stranded(rt: Runtime) -> list[HandoverOutcome]:
    """Hand over every plan's stranded work, each plan in its own transaction, as the system."""
    stranded: dict[int, int] = {}  # plan id -> its version when found
    with rt.database.read() as tx:
        found = stranded_work(tx, now=rt.now())
    for task in found.tasks:
        stranded[task.plan_id] = task.plan_version
    failed: dict[int, HandoverFailure] = {failure.plan_id: failure for failure in found.failures}
    for plan_id in failed.keys() - stranded.keys():
        forget_failure(rt, handover_subject(plan_id))  # handed over, or settled otherwise
    outcomes = []
    for plan_id, version in sorted(stranded.items()):
        failure = failed.get(plan_id)
        if failure is not None and failure.failed_version == version and failure.waiting:
            continue  # failed on this version: retried after its back-off
        outcomes.append(_hand_over(rt, plan_id, version, failed_before=failure is not None))
    return outcomes


def _hand_over(rt: Runtime, plan_id: int, version: int, *, failed_before: bool) -> HandoverOutcome:
    subject = handover_subject(plan_id)
    try:
        with rt.database.transaction() as tx:
            plan = lock_plan(tx, plan_id=plan_id)
            assert plan is not None  # plans are never deleted
            # Re-checked under the lock: a concurrent sweep or command may have handed it over.
            rows = stranded_in_plan(tx, plan_id=plan_id)
            handovers = [(row.task_id, _leaving(tx, row)) for row in rows]
            results = hand_over_plan(rt, tx, plan, handovers)
    except Exception as error:  # this plan only: the sweep goes on
        message = describe(error)
        if isinstance(error, PlanflowError):
            message += "; grant the role to someone who can take the step (planflow user grant)"
            log.warning("hand-over of plan #%d refused: %s", plan_id, message)
        else:  # a bug or the database: the traceback is what someone needs
            log.exception("hand-over of plan #%d failed: %s", plan_id, message)
        record_failure(rt, Failed(subject, CycleStep.HANDOVER, plan_id, version), message)
        return HandoverOutcome(plan_id, error=message)
    if failed_before:
        forget_failure(rt, subject)
    return HandoverOutcome(plan_id, writes=len(results))


def _leaving(tx: Transaction, row: Stranded) -> Leaving:
    """Who the task waits on in vain, and why, as the audit row's reason says."""
    if row.user_id is None:  # a `sign: any` task whose holders are all gone
        task = task_by_id(tx, task_id=row.task_id)
        org = org_by_id(tx, org_id=task.org_id) if task else None
        return Leaving(
            person=None,
            roles=frozenset({row.role}),
            every_role=False,
            reason=f"nobody at {org.code if org else '?'} holds the role {row.role} any more; "
            f"{FOUND_BY}",
        )
    assert row.username is not None and row.name is not None and row.user_org_id is not None
    person = Person(id=row.user_id, username=row.username, name=row.name, org_id=row.user_org_id)
    gone = "was deactivated" if not row.active else f"no longer holds the role {row.role}"
    return Leaving(
        person=person,
        roles=frozenset({row.role}),
        every_role=not row.active,
        reason=f"{row.username} {gone}; {FOUND_BY}",
    )
