"""Named guards: the only conditions a template may attach to a transition.

YAML names a guard; it can never name Python code. Each guard looks at `PlanFacts`, a plain
snapshot the service builds from the database, and returns `None` to allow or a sentence saying
why not (a `Message`, read in their language), written for the person who tried (as Prefect's
orchestration rules do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.core.i18n import Message


@dataclass(frozen=True)
class PlanFacts:
    """What guards may know about a plan at the moment of an action."""

    item_count: int
    goal_count: int
    unreported_goals: tuple[str, ...] = ()  # titles of goals with no actual value yet
    unreported_items: tuple[str, ...] = ()  # labels of monthly items with no status yet
    current_task_touched: bool = False  # someone already decided on the open task


Guard = Callable[[PlanFacts], Message | None]


def _has_items(facts: PlanFacts) -> Message | None:
    if facts.item_count:
        return None
    return Message.of("the plan has no monthly items; add at least one")


def _has_goals(facts: PlanFacts) -> Message | None:
    return None if facts.goal_count else Message.of("the plan has no goals; add at least one")


def _untouched(facts: PlanFacts) -> Message | None:
    if facts.current_task_touched:
        return Message.of(
            "a reviewer has already decided on this step, so it can no longer be withdrawn"
        )
    return None


def _shown(names: tuple[str, ...]) -> str:
    return "、".join(names[:5]) + ("…" if len(names) > 5 else "")


def _all_goals_reported(facts: PlanFacts) -> Message | None:
    names = facts.unreported_goals
    if not names:
        return None
    return Message.of(
        "{count} goal(s) not reported yet: {names}", count=len(names), names=_shown(names)
    )


def _all_items_reported(facts: PlanFacts) -> Message | None:
    names = facts.unreported_items
    if not names:
        return None
    return Message.of(
        "{count} monthly item(s) not reported yet: {names}", count=len(names), names=_shown(names)
    )


GUARDS: dict[str, Guard] = {
    "has_items": _has_items,
    "has_goals": _has_goals,
    "untouched": _untouched,
    "all_goals_reported": _all_goals_reported,
    "all_items_reported": _all_items_reported,
}

# Conditions a reminder rule may name in `unless:`; checked at send time against the item.
ITEM_CONDITIONS: frozenset[str] = frozenset({"item_done"})
