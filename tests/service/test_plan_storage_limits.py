"""What the core accepts, both databases store unchanged; what they cannot store is refused.

On SQLite and PostgreSQL: a plan file with every text at its limit (in four-byte characters,
written as JSON surrogate escapes) round-trips exactly; comments, notes and numbers that cannot be
stored are refused before anything is written; two creates of the same plan racing end in one plan
and a one-line AlreadyExists, never a `UniqueViolation` traceback.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from engine.core import limits
from engine.core.errors import ActionRefused, AlreadyExists, PlanflowError
from engine.core.planfile import parse_plan
from engine.service.actions import act
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.store.statuses import ItemStatus
from engine.store.tables import AuditEvent, Plan
from tests.world import setup_world, small_plan, world_with_live_plan

FULL = "🎊"  # four bytes in UTF-8, a surrogate pair in `json.dumps`, one character to a database


def plan_at_every_limit() -> dict[str, Any]:
    return {
        "org": "zishan-middle-school",
        "year": 2027,
        "title": FULL * limits.PLAN_TITLE,
        "template": "annual-work-plan",
        "sections": [
            {"heading": FULL * limits.SECTION_HEADING, "body": FULL * limits.SECTION_BODY}
        ],
        "goals": [
            {
                "key": "k" * limits.GOAL_KEY,
                "title": FULL * limits.GOAL_TITLE,
                "target": "999999999999.999",
                "unit": FULL * limits.GOAL_UNIT,
            }
        ],
        "items": [
            {"month": 1 + n % 12, "title": f"{n:03d}" + FULL * (limits.ITEM_TITLE - 3)}
            for n in range(limits.MAX_ITEMS)
        ],
    }


def audit_rows(rt: Runtime) -> int:
    with rt.database.session() as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()


def test_a_plan_at_every_limit_is_stored_and_read_back_unchanged(rt: Runtime) -> None:
    setup_world(rt)
    text = json.dumps(plan_at_every_limit())  # ASCII only: every 🎊 is "\ud83c\udf8a"
    spec = parse_plan(text, source="full.json")
    spec = dataclasses.replace(
        spec,
        items=(
            *spec.items[:-1],
            dataclasses.replace(spec.items[-1], detail=FULL * limits.ITEM_DETAIL),
        ),
    )
    plan_id = create_plan(rt, spec=spec, actor="chen-school").plan_id
    view = show_plan(rt, plan_id=plan_id, actor="chen-school")
    assert view.plan.title == spec.title
    assert [(s.heading, s.body) for s in view.sections] == [
        (s.heading, s.body) for s in spec.sections
    ]
    [goal] = view.goals
    assert (goal.key, goal.title, goal.unit) == (
        spec.goals[0].key,
        spec.goals[0].title,
        spec.goals[0].unit,
    )
    assert repr(goal.target) == "999999999999.999"
    assert [(i.month, i.title, i.detail) for i in view.items] == [
        (i.month, i.title, i.detail) for i in spec.items
    ]


def test_a_text_past_its_column_is_refused_by_the_database_in_one_line(rt: Runtime) -> None:
    """A `PlanSpec` built by code skips the plan-file checks; PostgreSQL still refuses cleanly."""
    setup_world(rt)
    spec = dataclasses.replace(small_plan(), title="计" * (limits.PLAN_TITLE + 1))
    if rt.database.url.startswith("sqlite"):
        pytest.skip("SQLite keeps any length; the plan-file checks are what bound it there")
    with pytest.raises(ActionRefused) as refused:
        create_plan(rt, spec=spec, actor="chen-school")
    assert str(refused.value) == (
        "the database refused the change: value too long for type character varying(300)"
    )
    assert audit_rows(rt) == 0


UNSTORABLE = [
    ("x" * (limits.COMMENT + 1), f"is {limits.COMMENT + 1} characters long; the limit is 4000"),
    ("原因\0", "contains a NUL character (\\u0000), which cannot be stored; remove it"),
    (
        "原因\udcff",  # what Python makes of the byte 0xff in a command-line argument
        "contains a lone UTF-16 surrogate (\\udcff), which is not a character; "
        "write the character itself or its full surrogate pair",
    ),
]


@pytest.mark.parametrize(("text", "complaint"), UNSTORABLE, ids=["long", "nul", "surrogate"])
def test_comments_and_notes_that_cannot_be_stored_are_refused(
    rt: Runtime, text: str, complaint: str
) -> None:
    plan_id = world_with_live_plan(rt)
    before = audit_rows(rt)
    with pytest.raises(ActionRefused, match=r"^the comment "):
        act(rt, plan_id=plan_id, trigger="submit_evaluation", actor="chen-school", comment=text)
    with pytest.raises(ActionRefused) as goal_note:
        report_goal(
            rt, plan_id=plan_id, actor="chen-school", goal_key="goal-1", actual=1, note=text
        )
    with pytest.raises(ActionRefused) as item_note:
        report_item(
            rt,
            plan_id=plan_id,
            actor="chen-school",
            item_number=1,
            status=ItemStatus.NOT_DONE,
            note=text,
        )
    assert str(goal_note.value) == str(item_note.value) == f"the note {complaint}"
    assert audit_rows(rt) == before
    # At the limit it is stored as written.
    note = "说" * limits.COMMENT
    report_item(
        rt, plan_id=plan_id, actor="chen-school", item_number=1, status=ItemStatus.PARTLY, note=note
    )
    assert show_plan(rt, plan_id=plan_id, actor="chen-school").items[0].report_note == note


@pytest.mark.parametrize("actual", [float("inf"), float("-inf"), float("nan")])
def test_an_actual_that_is_not_a_finite_number_is_refused(rt: Runtime, actual: float) -> None:
    plan_id = world_with_live_plan(rt)
    before = audit_rows(rt)
    with pytest.raises(ActionRefused, match=r"^the actual must be a finite number, got "):
        report_goal(rt, plan_id=plan_id, actor="chen-school", goal_key="goal-1", actual=actual)
    assert audit_rows(rt) == before


RACERS = 6


def test_racing_creates_of_one_plan_make_one_plan(rt: Runtime) -> None:
    setup_world(rt)
    start = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def create() -> None:
        start.wait()
        try:
            create_plan(rt, spec=small_plan(), actor="chen-school")
            outcomes.append("won")
        except PlanflowError as error:
            outcomes.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=create) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with rt.database.session() as session:
        [plan_id] = session.exec(select(Plan.id)).all()
    refusal = (
        f"AlreadyExists: 梓山中学工会 already has a 2027 plan on annual-work-plan "
        f"(plan #{plan_id}); edit that one instead"
    )
    assert sorted(outcomes) == [refusal] * (RACERS - 1) + ["won"]


def test_a_create_that_loses_the_insert_race_answers_already_exists(rt: Runtime) -> None:
    """PostgreSQL: both check, neither sees the other; the second insert waits, then fails."""
    if not rt.database.url.startswith("postgresql"):
        pytest.skip("SQLite's IMMEDIATE transactions serialise creates before the check")
    setup_world(rt)
    engine = sa.create_engine(rt.database.url)
    outcome: list[BaseException] = []
    try:
        with engine.connect() as rival:
            rival.begin()
            rival.execute(
                sa.text(
                    "INSERT INTO plan (org_id, year, title, template_id, template_name, "
                    "template_version, state, state_entered_at, version, created_by, created_at, "
                    "updated_at) SELECT o.id, 2027, 'rival', t.id, t.name, t.version, 'draft', "
                    "now(), 1, u.id, now(), now() FROM organisation o, workflow_template t, "
                    "app_user u WHERE o.code = 'zishan-middle-school' AND "
                    "t.name = 'annual-work-plan' AND u.username = 'chen-school'"
                )
            )

            def create() -> None:
                try:
                    create_plan(rt, spec=small_plan(), actor="chen-school")
                except Exception as error:  # the test reports what it got
                    outcome.append(error)

            loser = threading.Thread(target=create)
            loser.start()
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            deadline = time.monotonic() + 20
            while rival.execute(waiting).scalar_one() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert loser.is_alive(), outcome  # it passed the check and waits on our insert
            rival.commit()
            loser.join(timeout=30)
        with rt.database.session() as session:
            [rival_id] = session.exec(select(Plan.id)).all()
    finally:
        engine.dispose()
    [error] = outcome
    assert isinstance(error, AlreadyExists)
    assert str(error) == (
        f"梓山中学工会 already has a 2027 plan on annual-work-plan (plan #{rival_id}); "
        "edit that one instead"
    )
