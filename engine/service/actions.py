"""Acting on plans: a person's decision or a timer, through one path.

`act` checks the action with the compiled workflow, handles countersigning (`sign: all` waits for
every signer on `approve`, `sign: sequence` takes them in grant order, and any other decision by a
signer ends the round at once), then leaves the old state and enters the new one (`steps`:
closing and opening tasks, their reminders, the items' reminders where `items: live`). People
hear of what concerns them through notices planned here and sent by the dispatch sweep: a
`sequence` signer when their turn comes, and the plan's owners when it is returned to them, with
the reason. A holder of an escalation task (see `escalations.py`) acts on the step as the step's
own role would. All inside `write_plan`'s transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.core.errors import ActionRefused, PermissionDenied
from engine.core.guards import PlanFacts
from engine.core.limits import check_comment, check_finite
from engine.core.planning import plan_return_notices, task_turn_notice
from engine.core.template.model import COUNTERSIGN_TRIGGER, SignMode, State, Transition
from engine.service.runtime import Runtime
from engine.service.steps import enter_state, leave_state, store_task_reminders
from engine.service.timezones import plan_timezone
from engine.service.writes import Change, WriteContext, WriteResult, owner_roles, write_plan
from engine.store import Transaction
from engine.store.facts import goal_facts, item_facts
from engine.store.people import person_by_id
from engine.store.reminders import cancel_unsent_task_notices
from engine.store.tasks import OpenTask, any_decision, escalations_at, open_task, sign, signers


@dataclass(frozen=True)
class Decision:
    trigger: str
    comment: str | None
    score: float | None


def act(
    rt: Runtime,
    *,
    plan_id: int,
    trigger: str,
    actor: str | None,
    comment: str | None = None,
    score: float | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> WriteResult:
    """Fire `trigger` on a plan as `actor` (None: the system, for timers)."""
    check_comment("comment", comment)
    check_finite("score", score)
    decision = Decision(trigger=trigger, comment=comment, score=score)
    return write_plan(
        rt,
        plan_id=plan_id,
        actor=actor,
        request={"action": trigger, "comment": comment, "score": score},
        change=lambda ctx: _apply(ctx, decision),
        idempotency_key=idempotency_key,
        expected_version=expected_version,
    )


def _apply(ctx: WriteContext, decision: Decision) -> Change:
    plan = ctx.plan
    source = ctx.workflow.state(plan.state)
    transition, stand_in = _permit(ctx, source, decision)
    # Tasks open only on entering a state with a task, and close on leaving it: elsewhere there is
    # none to look for (or to close, below).
    task = open_task(ctx.tx, plan_id=ctx.plan_id) if source.task is not None else None
    # Someone standing in through an escalation decides for the whole step: the signers of a
    # countersigned one let it become overdue, so their round does not bind the stand-in.
    if task is not None and task.sign != SignMode.ANY and ctx.user is not None and not stand_in:
        pending = _countersign(ctx, task, decision)
        if pending is not None:
            return pending
    # Only guards read the facts, which take up to three queries: a transition without guards
    # gives the machine no condition that could look at them.
    facts = plan_facts(ctx.tx, ctx.plan_id, task) if transition.guards else _NO_FACTS
    step = ctx.workflow.fire(plan.state, decision.trigger, facts)
    leave_state(ctx, step.source, decision.trigger)
    if ctx.workflow.template.is_return(step.transition):
        _notify_return(ctx, task)
    if step.transition.score_required:
        ctx.update_plan(assessment_score=decision.score, assessment_comment=decision.comment)
    ctx.update_plan(state=step.dest.name, state_entered_at=ctx.now)
    enter_state(ctx, step.dest)
    detail: dict[str, Any] = {}
    if decision.score is not None:
        detail["score"] = decision.score
    if stand_in is not None:
        assert source.task is not None
        detail.update(escalation_task=stand_in.task_id, as_role=source.task.role)
    return Change(
        action=decision.trigger,
        from_state=step.source.name,
        to_state=step.dest.name,
        comment=decision.comment,
        detail=detail or None,
    )


_NO_FACTS = PlanFacts(item_count=0, goal_count=0)  # never read: see `_apply`


@dataclass(frozen=True)
class StandIn:
    """The actor acts through an open escalation task, as the step's own role."""

    task_id: int


def _permit(
    ctx: WriteContext, source: State, decision: Decision
) -> tuple[Transition, StandIn | None]:
    """The transition the actor may take, and the escalation task they take it through, if any.

    A holder of an escalation task's role at its organisation may act as the step's own role
    would. That is looked up only when the actor's own roles do not allow the action, so an
    ordinary action pays no query for it, and someone allowed in their own right acts as such.
    """

    def permit(roles: Iterable[str]) -> Transition:
        return ctx.workflow.permit(
            ctx.plan.state,
            decision.trigger,
            actor_roles=frozenset(roles),
            by_system=ctx.user is None,
            comment=decision.comment,
            score=decision.score,
        )

    try:
        return permit(ctx.actor_roles), None
    except PermissionDenied:
        if source.task is None or ctx.user is None:
            raise
        escalations = escalations_at(ctx.tx, plan_id=ctx.plan_id, org_id=ctx.user.org_id)
        task_id = next((t.id for t in escalations if t.role in ctx.actor_roles), None)
        if task_id is None:
            raise
    return permit({*ctx.actor_roles, source.task.role}), StandIn(task_id)


def _countersign(ctx: WriteContext, task: OpenTask, decision: Decision) -> Change | None:
    """Record a signer's decision; return a Change while signatures are still missing."""
    assert ctx.user is not None
    asked = signers(ctx.tx, task_id=task.id)
    mine = next((s for s in asked if s.user_id == ctx.user.id), None)
    if mine is None:
        if decision.trigger == COUNTERSIGN_TRIGGER:
            raise PermissionDenied(
                "{username} is not among the signers of this countersigned step",
                code="action.not_a_signer",
                username=ctx.user.username,
                plan_id=ctx.plan_id,
                state=ctx.plan.state,
                trigger=decision.trigger,
            )
        return None  # someone acting through another role: no signature involved
    if mine.decision is not None:
        assert mine.decided_at is not None
        tz = plan_timezone(ctx.rt, ctx.workflow.template)
        raise ActionRefused(
            "you already signed this step ({decision}) on {decided_at:%Y-%m-%d %H:%M}",
            code="action.already_signed",
            decision=mine.decision,
            decided_at=mine.decided_at.astimezone(tz),
            plan_id=ctx.plan_id,
            state=ctx.plan.state,
            trigger=decision.trigger,
        )
    undecided = [s for s in asked if s.decision is None]
    if task.sign == SignMode.SEQUENCE and undecided[0].user_id != ctx.user.id:
        waiting_for = person_by_id(ctx.tx, user_id=undecided[0].user_id)
        raise ActionRefused(
            "this step is signed in sequence; it is {name}'s turn first",
            code="action.not_your_turn",
            name=waiting_for.name if waiting_for else undecided[0].username,
            username=undecided[0].username,
            plan_id=ctx.plan_id,
            state=ctx.plan.state,
            trigger=decision.trigger,
        )
    sign(ctx.tx, signer_id=mine.id, trigger=decision.trigger, at=ctx.now, note=decision.comment)
    if decision.trigger != COUNTERSIGN_TRIGGER or len(undecided) == 1:
        return None  # a return ends the round; the last approval completes it: fire now
    signed = len(asked) - len(undecided) + 1
    if task.sign == SignMode.SEQUENCE:
        _notify_next_turn(ctx, task, turn=signed + 1)
    return Change(
        action=decision.trigger,
        from_state=ctx.plan.state,
        to_state=ctx.plan.state,
        comment=decision.comment,
        detail={"signed": signed, "of": len(asked)},
    )


def _notify_next_turn(ctx: WriteContext, task: OpenTask, *, turn: int) -> None:
    """In a `sequence` countersign the next signer hears that it is their turn, and the notice
    of the turn just taken is dropped if it is still waiting for the sweep."""
    spec = ctx.workflow.state(ctx.plan.state).task
    assert spec is not None
    cancel_unsent_task_notices(
        ctx.tx, task_id=task.id, reason="the signer signed before it went out"
    )
    notice = task_turn_notice(
        plan_id=ctx.plan_id, task_id=task.id, role=spec.role, turn=turn, at=ctx.now
    )
    store_task_reminders(ctx.tx, [notice], now=ctx.now)


def _notify_return(ctx: WriteContext, task: OpenTask | None) -> None:
    """The plan's owners hear that it came back to them, and why: the return's comment, which
    the dispatcher reads at send time from this write's audit row (`returns.last_return`). The
    key carries the version this write makes, so each return has a notice of its own."""
    notices = plan_return_notices(
        plan_id=ctx.plan_id,
        version=ctx.plan.version + 1,
        task_id=task.id if task is not None else None,
        owner_roles=sorted(owner_roles(ctx.workflow.template)),
        at=ctx.now,
    )
    store_task_reminders(ctx.tx, notices, now=ctx.now)


def plan_facts(tx: Transaction, plan_id: int, task: OpenTask | None) -> PlanFacts:
    """What the guards know of the plan now (and of its open task, if any)."""
    goals = goal_facts(tx, plan_id=plan_id)
    items = item_facts(tx, plan_id=plan_id)
    touched = task is not None and any_decision(tx, task_id=task.id)
    return PlanFacts(
        item_count=len(items),
        goal_count=len(goals),
        unreported_goals=tuple(g.title for g in goals if g.actual is None),
        unreported_items=tuple(f"{i.month}月 {i.title}" for i in items if i.status is None),
        current_task_touched=touched,
    )
