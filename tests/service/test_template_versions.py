"""A loaded (name, version) never changes; a new version coexists and running plans keep theirs."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from engine.core.errors import ActionRefused, AlreadyExists
from engine.service.actions import act
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import list_templates, load_template
from engine.store.tables import Reminder
from tests.world import setup_world, small_plan
from workflows import BUNDLED_DIR

ORIGINAL = (BUNDLED_DIR / "annual-work-plan.yaml").read_text(encoding="utf-8")
# Version 2 drops the township review: drafts go straight to the county.
VERSION_2 = (
    ORIGINAL.replace("version: 1", "version: 2")
    .replace(
        "{trigger: submit,   from: draft,           to: township_review,",
        "{trigger: submit,   from: draft,           to: county_approval,",
    )
    .replace(
        "  - {trigger: approve,  from: township_review, to: county_approval, "
        "roles: [township_reviewer]}\n",
        "  - {trigger: approve,  from: township_review, to: county_approval, "
        "roles: [township_reviewer]}\n"
        "  - {trigger: skip,     from: draft,           to: township_review, roles: [drafter]}\n",
    )
)


def test_changed_content_needs_a_new_version(rt: Runtime) -> None:
    setup_world(rt)
    with pytest.raises(AlreadyExists, match="give your change a new version \\(version: 2\\)"):
        load_template(rt, content=ORIGINAL.replace("due: 20d", "due: 21d"), source="x.yaml")
    again = load_template(rt, content=ORIGINAL, source="annual-work-plan.yaml")
    assert not again.created


def test_running_plans_keep_their_version(rt: Runtime) -> None:
    setup_world(rt)
    old = create_plan(rt, spec=small_plan(year=2027), actor="chen-school").plan_id
    assert load_template(rt, content=VERSION_2, source="v2.yaml").created
    new = create_plan(rt, spec=small_plan(year=2028), actor="chen-school").plan_id

    assert act(rt, plan_id=old, trigger="submit", actor="chen-school").to_state == (
        "township_review"
    )
    assert act(rt, plan_id=new, trigger="submit", actor="chen-school").to_state == (
        "county_approval"
    )
    with pytest.raises(ActionRefused, match="'skip' is not possible"):
        act(rt, plan_id=old, trigger="skip", actor="chen-school")
    versions = {
        plan_id: show_plan(rt, plan_id=plan_id, actor="chen-school").plan.template_version
        for plan_id in (old, new)
    }
    assert versions == {old: 1, new: 2}
    assert [(t.name, t.version) for t in list_templates(rt)] == [
        ("annual-work-plan", 1),
        ("annual-work-plan", 2),
        ("township-annual-plan", 1),
    ]


def test_a_plan_created_straight_into_a_live_state_plans_its_reminders(rt: Runtime) -> None:
    """Creation enters the initial state in the same transaction that inserted the items."""
    setup_world(rt)
    live_from_the_start = ORIGINAL.replace("name: annual-work-plan", "name: live-draft").replace(
        "draft:             {title: 草稿, initial: true}",
        "draft:             {title: 草稿, initial: true, items: live}",
    )
    load_template(rt, content=live_from_the_start, source="live.yaml")
    plan_id = create_plan(
        rt, spec=small_plan(template="live-draft", items=2), actor="chen-school"
    ).plan_id
    with rt.database.session() as session:
        count = session.exec(
            select(func.count()).select_from(Reminder).where(Reminder.plan_id == plan_id)
        ).one()
    assert count == 2 * 4  # two items × (month start, due, overdue to two roles)
