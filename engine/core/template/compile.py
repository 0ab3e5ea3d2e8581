"""Compile a `Template` into one `transitions.Machine`, and decide actions with it.

One machine per template (name, version), built once and cached by the caller; never one per
plan, and never `add_model` on ORM rows. For each action a tiny `_Token` carrying only the current
state name is fired through the machine's event, so nothing is registered per plan (a machine with
100k registered models holds well over a gigabyte).

`auto_transitions=False` because `to_<state>` jumps would bypass every rule. Guards are machine
conditions that *raise* `ActionRefused` with a reason instead of returning False, since a silent
False is the classic `transitions` trap: the user would never learn why nothing happened.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from engine.core.errors import ActionRefused, PermissionDenied
from engine.core.guards import GUARDS, PlanFacts
from engine.core.i18n import Message
from engine.core.template.model import State, Template, Transition


@dataclass(frozen=True)
class Step:
    """A decided move: the template transition taken, from which state to which."""

    transition: Transition
    source: State
    dest: State


class _Token:
    """The plan as the machine sees it: just a state name (SQLModel rows reject decoration)."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _guard_condition(name: str) -> Callable[[EventData], bool]:
    guard = GUARDS[name]

    def condition(event: EventData) -> bool:
        facts: PlanFacts = event.kwargs["facts"]
        reason = guard(facts)
        if reason is not None:
            raise ActionRefused(
                "'{trigger}' refused: {reason}",
                code="action.guard_failed",
                trigger=event.event.name,
                state=event.state.name,
                guard=name,
                reason=reason,
            )
        return True

    condition.__name__ = f"guard_{name}"
    return condition


class Workflow:
    """A template plus its compiled machine: the pure rules of one (name, version)."""

    def __init__(self, template: Template) -> None:
        self.template = template
        transitions: list[dict[str, Any]] = [
            {
                "trigger": t.trigger,
                "source": list(t.sources),
                "dest": t.dest,
                "conditions": [_guard_condition(g) for g in t.guards],
            }
            for t in template.transitions
        ]
        self._machine = Machine(
            model=None,
            states=list(template.states),
            transitions=transitions,
            initial=template.initial_state.name,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            name=f"{template.name}@{template.version}",
        )

    @property
    def key(self) -> tuple[str, int]:
        return (self.template.name, self.template.version)

    def state(self, name: str) -> State:
        return self.template.states[name]

    def human_triggers(self, state: str, roles: Collection[str] | None = None) -> list[str]:
        """Triggers a person may use in `state` (timers excluded), in template order.

        With `roles`, only those that one of these roles may use.
        """
        seen: dict[str, None] = {}
        for t in self.template.transitions_from(state):
            if not t.is_timer and (roles is None or set(t.roles) & set(roles)):
                seen.setdefault(t.trigger)
        return list(seen)

    def permit(
        self,
        state: str,
        trigger: str,
        *,
        actor_roles: Collection[str],
        by_system: bool,
        comment: str | None = None,
        score: float | None = None,
    ) -> Transition:
        """Check who may use `trigger` in `state` and with what; return the transition or raise.

        The order is fixed: the transition exists here; the actor may use it (deny by default:
        people need one of its roles, the scheduler may only fire timers); then the required
        comment and score (a finite number in the transition's range, and only where one is
        asked for: a score that would be dropped is refused). Guards run later, in `fire`, once
        the plan's facts are known.
        """
        transition = self.template.transition(state, trigger)
        source = self.template.states[state]
        if transition is None:
            # What this actor's roles allow here, not every trigger: a reviewer is not offered
            # the drafter's `withdraw` (the service's `possible_now` checks the rest).
            allowed = self.human_triggers(state, None if by_system else actor_roles)
            raise ActionRefused(
                "'{trigger}' is not possible while the plan is in {title} ({state}); "
                "possible now: {possible}",
                code="action.not_allowed",
                trigger=trigger,
                state=state,
                title=source.title,
                possible=", ".join(allowed) or Message.of("none"),
            )
        if by_system != transition.is_timer:
            raise PermissionDenied(
                "'{trigger}' in {title} ({state}) is not for {who}",
                code="action.wrong_actor",
                trigger=trigger,
                state=state,
                title=source.title,
                who=Message.of("the scheduler") if by_system else Message.of("a person"),
            )
        if not by_system and not set(transition.roles) & set(actor_roles):
            raise PermissionDenied(
                "you may not '{trigger}' this plan in {title} ({state}): "
                "it needs the role {role} with this plan in your scope",
                code="action.role_required",
                trigger=trigger,
                state=state,
                title=source.title,
                role=", ".join(transition.roles),
            )
        if transition.comment_required and not (comment and comment.strip()):
            raise ActionRefused(
                "'{trigger}' needs a comment saying why (--comment)",
                code="action.comment_required",
                trigger=trigger,
                state=state,
                field="comment",
            )
        if transition.score_required:
            if score is None:
                raise ActionRefused(
                    "'{trigger}' needs a score (--score)",
                    code="action.score_required",
                    trigger=trigger,
                    state=state,
                    field="score",
                )
            if score not in transition.score_range:  # false for NaN; no range holds infinity
                raise ActionRefused(
                    "'{trigger}' needs a score from {low:g} to {high:g}, got {value:g}",
                    code="action.score_out_of_range",
                    trigger=trigger,
                    state=state,
                    field="score",
                    value=score,
                    low=transition.score_range.low,
                    high=transition.score_range.high,
                )
        elif score is not None:
            raise ActionRefused(
                "'{trigger}' takes no score; leave out --score",
                code="action.score_not_taken",
                trigger=trigger,
                state=state,
                field="score",
                value=score,
            )
        return transition

    def fire(self, state: str, trigger: str, facts: PlanFacts) -> Step:
        """Run the guards and move through the machine; call `permit` first."""
        transition = self.template.transition(state, trigger)
        if transition is None:
            raise ActionRefused(
                "'{trigger}' is not possible in {state}",
                code="action.not_allowed",
                trigger=trigger,
                state=state,
            )
        token = _Token(state)
        fired = self._machine.events[trigger].trigger(token, facts=facts)
        if not fired:  # unreachable while every condition raises; kept so a refusal is never silent
            raise ActionRefused(
                "'{trigger}' refused in {state}",
                code="action.refused",
                trigger=trigger,
                state=state,
            )
        return Step(
            transition=transition,
            source=self.template.states[state],
            dest=self.template.states[token.state],
        )
