"""Taking a role away, or a person out, without leaving any step waiting for them.

`revoke_role` and `deactivate_user` hand over every open task the person can no longer act on,
in the same transaction as the revocation itself, so either all of it lands or none of it does:

- an undecided signer of a countersigned task (`sign: all|sequence`) is taken off its signer
  list. The round goes on with the remaining signers; if every remaining signer has approved
  already, the round is complete and the step moves on as the last approval would have made it
  (the system's `approve`, audited after the `reassign` that completed it);
- a task nobody else can take any more (the person was its only holder, or its only signer)
  moves to the other holders of its role at its organisation, else to the nearest organisation
  within the role's scope that has a holder, as a task or an escalation finds one; a
  countersigned task asks its new holders to sign;
- if any such task would have no one at all, the whole command is refused before anything
  changes, naming every plan to hand over first (grant the role to a successor, then try again).

Each change is an audited write on its plan (`record_write`: the plan's row lock, a version bump
and an audit row `reassign` by the system, with who was removed, why, and who holds it now).
A task that other holders at its organisation still have (`sign: any`) needs no change: it is
theirs already. What a write racing the command leaves waiting on the person, the scheduler's
cycle hands over with the same `hand_over_plan` (`stranded`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from engine.core.errors import ActionRefused, NotFound
from engine.core.i18n import Message
from engine.core.planning import task_handover_notice
from engine.core.template.compile import Workflow
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode
from engine.service.actions import plan_facts
from engine.service.directory import find_any_user, nearest_holders, org_path
from engine.service.runtime import Runtime
from engine.service.steps import enter_state, leave_state, store_task_reminders
from engine.service.templates import workflow_by_id
from engine.service.writes import (
    Change,
    WriteContext,
    WriteResult,
    record_write,
    request_fingerprint,
)
from engine.store import Transaction
from engine.store.api_tokens import revoke_tokens_of
from engine.store.handovers import (
    deactivate_user as store_deactivate_user,
)
from engine.store.handovers import (
    delete_grant,
    open_any_tasks_at,
    undecided_signatures,
)
from engine.store.people import Person, org_by_id, person_by_id, role_holders_at, roles_of
from engine.store.plans import PlanRecord, lock_plan
from engine.store.reminders import cancel_unsent_task_notices
from engine.store.statuses import TaskStatus
from engine.store.tasks import (
    OpenTask,
    TaskRecord,
    delete_signer,
    insert_signers,
    move_task,
    signers,
    task_by_id,
)
from engine.store.web_sessions import end_sessions_of

REASSIGN_ACTION = "reassign"


@dataclass(frozen=True)
class Leaving:
    """Who can no longer act, for which roles, and how the audit log says so."""

    # None: nobody in particular (the cycle found a task whose holders are all gone, `stranded`)
    person: Person | None
    roles: frozenset[str]  # the roles they no longer hold
    every_role: bool  # deactivated: off every signer list, whatever its role
    reason: str  # e.g. "the role county_approver was revoked"

    def signs_for(self, role: str) -> bool:
        return self.every_role or role in self.roles


def revoke_role(rt: Runtime, *, username: str, role: str) -> list[WriteResult]:
    """Take `role` from `username` and hand over what waits on them for it (see module doc).

    Run again for a role already taken away, it hands over what still waits on them for it (a
    task a concurrent write opened from the roles it read before the revocation committed, or
    one left waiting by a revocation made before this version), and says they do not hold it
    only when nothing does.
    """
    with rt.database.transaction() as tx:
        person = find_any_user(tx, username)
        revoked = delete_grant(tx, user_id=person.id, role=role)
        leaving = Leaving(
            person=person,
            roles=frozenset({role}),
            every_role=False,
            reason=f"the role {role} was revoked",
        )
        refusal = Message.of("cannot revoke {role} from {username}", role=role, username=username)
        results = _hand_over(rt, tx, person, leaving, refusal=refusal)
        if not revoked and not results:
            raise NotFound(
                "{username} does not hold the role {role}",
                code="role.not_held",
                username=username,
                role=role,
            )
        return results


def deactivate_user(rt: Runtime, *, username: str) -> list[WriteResult]:
    """Deactivate `username`: they may no longer act, and every open task moves on without them.
    Their page sessions end and their API tokens are revoked in the same transaction.

    Their role grants stay on record; a deactivated user holds none of them for tasks,
    signatures or reminders (`people.role_holders_up`, `role_holders_at`). Run again for
    someone already deactivated, it hands over what still waits on them, as `revoke_role` does.
    """
    with rt.database.transaction() as tx:
        person = find_any_user(tx, username)
        was_active = person.active
        held = roles_of(tx, user_id=person.id)
        if was_active:
            store_deactivate_user(tx, user_id=person.id)
        # Logged out everywhere and their API tokens revoked, with the deactivation or not at all.
        end_sessions_of(tx, user_id=person.id, at=rt.now())
        revoke_tokens_of(tx, user_id=person.id, at=rt.now())
        leaving = Leaving(
            person=person,
            roles=frozenset(held),
            every_role=True,
            reason=f"{username} was deactivated",
        )
        # Run again, as for `revoke_role`.
        refusal = Message.of("cannot deactivate {username}", username=username)
        results = _hand_over(rt, tx, person, leaving, refusal=refusal)
        if not was_active and not results:
            raise ActionRefused(
                "{username} is already deactivated",
                code="user.already_deactivated",
                username=username,
            )
        return results


def _hand_over(
    rt: Runtime, tx: Transaction, person: Person, leaving: Leaving, *, refusal: Message
) -> list[WriteResult]:
    """Every open task waiting on the person, plan by plan (locked in id order); all or nothing.

    Runs after the grant is gone (or the user inactive) in the same transaction, so the holder
    queries no longer find them.
    """
    signatures = undecided_signatures(tx, user_id=person.id)
    held_alone = open_any_tasks_at(tx, org_id=person.org_id)
    tasks: dict[int, set[int]] = {}
    for row in signatures:
        if leaving.signs_for(row.role):
            tasks.setdefault(row.plan_id, set()).add(row.task_id)
    for row in held_alone:
        if row.role in leaving.roles:
            tasks.setdefault(row.plan_id, set()).add(row.task_id)
    results: list[WriteResult] = []
    refusals: list[Message] = []
    for plan_id in sorted(tasks):
        plan = lock_plan(tx, plan_id=plan_id)
        assert plan is not None  # plans are never deleted
        try:
            handovers = [(task_id, leaving) for task_id in sorted(tasks[plan_id])]
            results += hand_over_plan(rt, tx, plan, handovers)
        except ActionRefused as refused:  # go on: the refusal names every plan, then rolls back
            refusals.append(_plan_refusal(tx, plan, refused))
    if refusals:
        # Each plan's reason is a sentence of its own, in the reader's language.
        raise ActionRefused(
            "{what}: {plans}; hand them over first (grant the role to someone who can take the "
            "step, planflow user grant), then try again",
            code="handover.refused",
            what=refusal,
            plans="; ".join(str(r) for r in refusals),
            plan_ids=",".join(str(r.values["plan_id"]) for r in refusals),
        )
    return results


def _plan_refusal(tx: Transaction, plan: PlanRecord, refused: ActionRefused) -> Message:
    org = org_by_id(tx, org_id=plan.org_id)
    return Message.of(
        "plan #{plan_id} ({org} {year}, {state}): {reason}",
        plan_id=plan.id,
        org=org.name if org else "?",
        year=plan.year,
        state=plan.state,
        reason=Message(refused.template, refused.fields),
    )


@dataclass(frozen=True)
class _Reassignment:
    """What one task's handover changes."""

    task_id: int
    task_sign: str
    role: str
    signer_id: int | None = None  # the person's signature row, taken off the list
    remaining: Sequence[str] = ()  # the undecided signers left (countersigned, not moved)
    approved: int = 0  # signers left who approved already: all of them, when the round completes
    to_org: int | None = None  # the task moves here (or stays, with new signers) when set
    holders: Sequence[tuple[int, str]] = ()  # (user id, username) of the holders there
    passes_turn: bool = False  # a `sequence` signer whose turn it was left: the next one's turn

    @property
    def announces(self) -> bool:
        """Whether someone now holds the task who has not been told of it."""
        return self.to_org is not None or (self.passes_turn and bool(self.remaining))

    @property
    def completes_round(self) -> bool:
        return self.to_org is None and not self.remaining and self.approved > 0


def hand_over_plan(
    rt: Runtime, tx: Transaction, plan: PlanRecord, handovers: Sequence[tuple[int, Leaving]]
) -> list[WriteResult]:
    """Hand over the plan's open tasks (id, who left it) so that none waits on who left it.

    The plan is locked by the caller; shared by the commands here and the cycle's sweep
    (`stranded`). Raises `ActionRefused` when a task would have no one at all.
    """
    workflow = workflow_by_id(rt, tx, plan.template_id)
    path = org_path(tx, plan.org_id)
    results: list[WriteResult] = []
    # In task id order: the step's own task first, as it was opened before its escalations.
    for task_id, leaving in handovers:
        task = task_by_id(tx, task_id=task_id)
        assert task is not None  # tasks are never deleted
        if task.status != TaskStatus.OPEN:
            continue  # closed by the round completed just before, with the step
        change = _reassignment(tx, workflow, path, task, leaving)
        if change is None:
            continue
        results.append(
            _write(rt, tx, plan.id, change, partial(_reassign, change=change, leaving=leaving))
        )
        if change.completes_round:
            results.append(_write(rt, tx, plan.id, change, partial(_complete_round, change=change)))
    return results


def _write(
    rt: Runtime,
    tx: Transaction,
    plan_id: int,
    change: _Reassignment,
    apply: Callable[[WriteContext], Change],
) -> WriteResult:
    # Read again (the lock is held already): the write before this one changed the row.
    plan = lock_plan(tx, plan_id=plan_id)
    assert plan is not None  # plans are never deleted
    fingerprint = request_fingerprint(
        {"plan": plan.id, "actor": None, "action": REASSIGN_ACTION, "task": change.task_id}
    )
    return record_write(
        rt, tx, plan, actor=None, change=apply, idempotency_key=None, request_hash=fingerprint
    )


def _reassignment(
    tx: Transaction, workflow: Workflow, path: list[int], task: TaskRecord, leaving: Leaving
) -> _Reassignment | None:
    """What must change so that the task no longer waits on the person; None: nothing must."""
    signer_id = None
    if task.sign != SignMode.ANY:
        asked = signers(tx, task_id=task.id)
        person = leaving.person
        mine = next(
            (
                s
                for s in asked
                if person is not None and s.user_id == person.id and s.decision is None
            ),
            None,
        )
        if mine is None:
            return None  # not asked, or signed already: their signature stands
        others = [s for s in asked if s.id != mine.id]
        if others:  # the round goes on with the signers left, or is complete
            turn = next(s for s in asked if s.decision is None)
            return _Reassignment(
                task_id=task.id,
                task_sign=task.sign,
                role=task.role,
                signer_id=mine.id,
                remaining=[s.username for s in others if s.decision is None],
                approved=sum(1 for s in others if s.decision == COUNTERSIGN_TRIGGER),
                passes_turn=task.sign == SignMode.SEQUENCE and turn.id == mine.id,
            )
        signer_id = mine.id
    elif role_holders_at(tx, role=task.role, org_id=task.org_id):
        return None  # others hold the role there: the task is theirs already
    to_org, user_ids = _new_holders(tx, workflow, path, task)
    return _Reassignment(
        task_id=task.id,
        task_sign=task.sign,
        role=task.role,
        signer_id=signer_id,
        to_org=to_org,
        holders=[(i, _username(tx, i)) for i in user_ids],
    )


def _username(tx: Transaction, user_id: int) -> str:
    person = person_by_id(tx, user_id=user_id)
    assert person is not None  # users are never deleted
    return person.username


def _new_holders(
    tx: Transaction, workflow: Workflow, path: list[int], task: TaskRecord
) -> tuple[int, list[int]]:
    """The other holders of the task's role at its organisation, else the nearest ones in scope."""
    here = role_holders_at(tx, role=task.role, org_id=task.org_id)
    user_ids = list(dict.fromkeys(here))
    if user_ids:
        return task.org_id, user_ids
    template = workflow.template
    role = template.roles[task.role]
    nearest = nearest_holders(tx, role, path)
    if nearest is None:
        step = template.states[task.state]
        org = org_by_id(tx, org_id=path[0])
        raise ActionRefused(
            "nobody else holds the role {role} ({role_title}) for {org}, so the step "
            "{state_title} ({state}) would have no one to act",
            code="task.no_other_holder",
            role=role.name,
            role_title=role.title,
            org=org.name if org else "?",
            state=step.name,
            state_title=step.title,
            plan_id=task.plan_id,
        )
    return nearest.org_id, list(dict.fromkeys(nearest.user_ids))


def _reassign(ctx: WriteContext, change: _Reassignment, leaving: Leaving) -> Change:
    detail: dict[str, Any] = {"task": change.task_id, "role": change.role}
    if leaving.person is not None:
        detail["removed"] = leaving.person.username
    detail["reason"] = leaving.reason
    if change.signer_id is not None:
        delete_signer(ctx.tx, signer_id=change.signer_id)
    if change.to_org is None:
        detail["signers"] = list(change.remaining)
    else:
        move_task(ctx.tx, task_id=change.task_id, org_id=change.to_org)
        org = org_by_id(ctx.tx, org_id=change.to_org)
        assert org is not None
        detail["org"] = org.code
        detail["holders"] = [username for _, username in change.holders]
        if change.task_sign != SignMode.ANY:
            # A new round for the new holders: they sign in grant order, as when a task opens.
            insert_signers(
                ctx.tx, task_id=change.task_id, user_ids=[user_id for user_id, _ in change.holders]
            )
            detail["signers"] = detail["holders"]
    if change.announces:
        _announce(ctx, change)
    return Change(
        action=REASSIGN_ACTION,
        from_state=ctx.plan.state,
        to_state=ctx.plan.state,
        detail=detail,
    )


def _announce(ctx: WriteContext, change: _Reassignment) -> None:
    """Those who now hold the task hear of it as of a new task; a notice the one who left was to
    get, if still unsent, is dropped (it would reach the new holders too)."""
    cancel_unsent_task_notices(
        ctx.tx, task_id=change.task_id, reason="the task was handed over before it went out"
    )
    notice = task_handover_notice(
        plan_id=ctx.plan_id,
        task_id=change.task_id,
        role=change.role,
        version=ctx.plan.version,
        at=ctx.now,
    )
    store_task_reminders(ctx.tx, [notice], now=ctx.now)


def _complete_round(ctx: WriteContext, change: _Reassignment) -> Change:
    """Every signer left has approved: fire `approve` as the last signature would have (`act`)."""
    task = OpenTask(id=change.task_id, sign=change.task_sign)
    step = ctx.workflow.fire(
        ctx.plan.state, COUNTERSIGN_TRIGGER, plan_facts(ctx.tx, ctx.plan_id, task)
    )
    leave_state(ctx, step.source, COUNTERSIGN_TRIGGER)
    ctx.update_plan(state=step.dest.name, state_entered_at=ctx.now)
    enter_state(ctx, step.dest)
    return Change(
        action=COUNTERSIGN_TRIGGER,
        from_state=step.source.name,
        to_state=step.dest.name,
        detail={
            "signed": change.approved,
            "of": change.approved,
            "task": change.task_id,
            "completed_after": REASSIGN_ACTION,
        },
    )
