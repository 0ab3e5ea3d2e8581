"""Big page forms: the form parser takes as many fields as the body limit lets through
(Starlette's own cap is 1000, which the editor of a plan at its limits already passes), read once
per request with that cap whichever of the CSRF check or the page reads it first."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.core import limits
from engine.http.app import create_app
from engine.service.plan_views import show_plan
from engine.service.runtime import Runtime
from tests.http.helpers import login, set_passwords
from tests.world import setup_world

DRAFTER = "chen-school"


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    setup_world(rt)
    set_passwords(rt, [DRAFTER])
    with TestClient(create_app(rt), follow_redirects=False) as test_client:
        yield test_client


def plan_form(key: str, *, sections: int, goals: int, items: int) -> list[tuple[str, str]]:
    fields = [
        ("key", key),
        ("title", "梓山中学工会2027年工作计划"),
        ("year", "2027"),
        ("org", "zishan-middle-school"),
        ("template", "annual-work-plan"),
    ]
    for n in range(sections):
        fields += [
            ("section_row", f"s{n}"),
            ("section_heading", f"第{n}部分"),
            ("section_body", ""),
        ]
    for n in range(goals):
        fields += [
            ("goal_row", f"g{n}"),
            ("goal_key", f"goal-{n}"),
            ("goal_title", f"目标{n}"),
            ("goal_target", "10"),
            ("goal_unit", "人"),
            ("goal_comparator", ">="),
            ("goal_allow_negative", "no"),
        ]
    for n in range(items):
        fields += [
            ("item_row", f"i{n}"),
            ("item_month", str(n % 12 + 1)),
            ("item_title", f"活动{n}"),
            ("item_detail", ""),
            ("item_due_day", ""),
        ]
    return fields


def key_of(client: TestClient) -> str:
    found = re.search(r'name="key" value="([^"]*)"', client.get("/plans/new").text)
    assert found is not None
    return found.group(1)


def body(fields: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    from urllib.parse import urlencode

    return urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("by_header", [False, True], ids=["token-in-form", "token-in-header"])
def test_a_plan_at_every_limit_is_created_in_the_editor(
    rt: Runtime, client: TestClient, by_header: bool
) -> None:
    csrf = login(client, DRAFTER)
    fields = plan_form(
        key_of(client),
        sections=limits.MAX_SECTIONS,
        goals=limits.MAX_GOALS,
        items=limits.MAX_ITEMS,
    )
    assert len(fields) > 1000  # past Starlette's default cap
    content, headers = body(fields if by_header else [("csrf_token", csrf), *fields])
    if by_header:
        headers["X-CSRF-Token"] = csrf
    answer = client.post("/plans/new", content=content, headers=headers)
    assert answer.status_code == 303, answer.text[:2000]
    plan_id = int(answer.headers["location"].removeprefix("/plans/"))
    view = show_plan(rt, plan_id=plan_id, actor=DRAFTER)
    assert (len(view.sections), len(view.goals), len(view.items)) == (50, 100, 200)


def test_a_3000_field_form_is_read_and_refused_by_the_plan_limits(client: TestClient) -> None:
    csrf = login(client, DRAFTER)
    fields = [("csrf_token", csrf), *plan_form(key_of(client), sections=0, goals=0, items=600)]
    assert len(fields) >= 3000
    content, headers = body(fields)
    answer = client.post("/plans/new", content=content, headers=headers)
    # The editor's own refusal (a plan has at most 200 items), not the form parser's 400.
    assert answer.status_code == 422, answer.text[:2000]
    assert "200" in answer.text
    assert "Too many fields" not in answer.text


def test_a_form_past_the_body_limit_is_still_refused(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"max_body_bytes": 4096})
    setup_world(rt)
    set_passwords(rt, [DRAFTER])
    with TestClient(create_app(rt), follow_redirects=False) as client:
        csrf = login(client, DRAFTER)
        fields = [("csrf_token", csrf), *plan_form(key_of(client), sections=0, goals=0, items=600)]
        content, headers = body(fields)
        assert client.post("/plans/new", content=content, headers=headers).status_code == 413
