"""What the plan page shows of one plan, read for one person: the plan whole (`show_plan`), its
history, the template it follows (for its workflow diagram and what each possible action asks
for) and the reminders of its monthly items with their status.

Every part is read only after `show_plan` found the plan within the reader's scope (else it
raises `NotFound`, as an out-of-scope plan reads as no plan).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.planfile import Comparator
from engine.core.template.model import Template, Transition
from engine.service.plan_views import HistoryEntry, PlanView, show_plan_with_history
from engine.service.reminders import ReminderView, list_reminders
from engine.service.runtime import Runtime
from engine.store.plan_content import Goal

# More than a plan's items and tasks ever plan (12 months × a few rules, a few steps).
_REMINDERS_SHOWN = 2000


@dataclass(frozen=True)
class PlanPage:
    view: PlanView
    history: list[HistoryEntry]
    template: Template
    item_reminders: dict[int, list[ReminderView]]  # by item id, by fire time

    def transition(self, trigger: str) -> Transition | None:
        """The transition `trigger` takes from the plan's state (None for the owner's commands
        that `possible` lists besides triggers)."""
        return self.template.transition(self.view.plan.state, trigger)


def plan_page(rt: Runtime, *, plan_id: int, actor: str) -> PlanPage:
    view, history, template = show_plan_with_history(rt, plan_id=plan_id, actor=actor)
    by_item: dict[int, list[ReminderView]] = {}
    for reminder in list_reminders(rt, plan_id=plan_id, limit=_REMINDERS_SHOWN):
        if reminder.item is not None:
            by_item.setdefault(reminder.item.id, []).append(reminder)
    return PlanPage(view=view, history=history, template=template, item_reminders=by_item)


def goal_met(goal: Goal) -> bool | None:
    """Whether the reported actual meets the goal's target (None while not reported)."""
    if goal.actual is None:
        return None
    if goal.comparator == Comparator.AT_MOST:
        return goal.actual <= goal.target
    if goal.comparator == Comparator.EQUAL:
        return goal.actual == goal.target
    return goal.actual >= goal.target
