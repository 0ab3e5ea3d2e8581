"""Named guards: the only conditions a template may attach to a transition.

YAML names a guard; it can never name Python code. Each guard looks at `PlanFacts`, a plain
snapshot the service builds from the database, and returns `None` to allow or a sentence saying
why not, written for the person who tried (as Prefect's orchestration rules do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlanFacts:
    """What guards may know about a plan at the moment of an action."""

    item_count: int
    goal_count: int
    unreported_goals: tuple[str, ...] = ()  # titles of goals with no actual value yet
    unreported_items: tuple[str, ...] = ()  # labels of monthly items with no status yet
    current_task_touched: bool = False  # someone already decided on the open task


Guard = Callable[[PlanFacts], str | None]


def _has_items(facts: PlanFacts) -> str | None:
    return None if facts.item_count else "the plan has no monthly items; add at least one"


def _has_goals(facts: PlanFacts) -> str | None:
    return None if facts.goal_count else "the plan has no goals; add at least one"


def _untouched(facts: PlanFacts) -> str | None:
    if facts.current_task_touched:
        return "a reviewer has already decided on this step, so it can no longer be withdrawn"
    return None


def _listing(kind: str, names: tuple[str, ...]) -> str:
    shown = "、".join(names[:5]) + ("…" if len(names) > 5 else "")
    return f"{len(names)} {kind} not reported yet: {shown}"


def _all_goals_reported(facts: PlanFacts) -> str | None:
    return _listing("goal(s)", facts.unreported_goals) if facts.unreported_goals else None


def _all_items_reported(facts: PlanFacts) -> str | None:
    return _listing("monthly item(s)", facts.unreported_items) if facts.unreported_items else None


GUARDS: dict[str, Guard] = {
    "has_items": _has_items,
    "has_goals": _has_goals,
    "untouched": _untouched,
    "all_goals_reported": _all_goals_reported,
    "all_items_reported": _all_items_reported,
}

# Conditions a reminder rule may name in `unless:`; checked at send time against the item.
ITEM_CONDITIONS: frozenset[str] = frozenset({"item_done"})
