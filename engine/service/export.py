"""A stored plan's content as a `PlanSpec`, for `planflow plan export` (any reader in scope).

The inverse of `create_plan`/`edit_plan`: the spec holds exactly what those store (title,
template name and version, sections, goals, items in order), so writing it as a plan file and
editing the plan with that file changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from engine.core.planfile import Comparator, GoalSpec, ItemSpec, PlanSpec, SectionSpec
from engine.service.plan_views import show_plan
from engine.service.runtime import Runtime


def export_plan(rt: Runtime, *, plan_id: int, actor: str) -> PlanSpec:
    """Plan `plan_id` as a plan file would describe it; out of scope reads as no plan."""
    view = show_plan(rt, plan_id=plan_id, actor=actor)
    plan = view.plan
    return PlanSpec(
        org=view.org.code,
        year=plan.year,
        title=plan.title,
        template_name=plan.template_name,
        template_version=plan.template_version,
        sections=tuple(SectionSpec(s.heading, s.body) for s in view.sections),
        goals=tuple(
            # Targets are stored as floats; their shortest text is the decimal that was written.
            GoalSpec(
                g.key,
                g.title,
                Decimal(repr(g.target)),
                g.unit,
                Comparator(g.comparator),
                g.allow_negative,
            )
            for g in view.goals
        ),
        items=tuple(ItemSpec(i.month, i.title, i.detail, i.due_day) for i in view.items),
    )
