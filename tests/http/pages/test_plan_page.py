"""The plan page: what a plan holds, its history and the actions the reader may take now, acting
through its forms (version, idempotency key, CSRF), and what it refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.demo.world import DRAFTER, REVIEWER
from engine.http.app import create_app
from engine.service.actions import act
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.http.pages.sessions import login, with_test_login
from tests.world import setup_world, small_plan

SCHOOL = "zishan-middle-school"
DRAFTER_NAME = DRAFTER[SCHOOL]
ZISHAN = REVIEWER["zishan-town"]
SONGSHAN = REVIEWER["songshan-town"]


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    setup_world(rt)
    with TestClient(with_test_login(create_app(rt), rt)) as client:
        yield client


def submitted(rt: Runtime) -> int:
    plan_id = create_plan(rt, spec=small_plan(SCHOOL), actor=DRAFTER_NAME).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER_NAME)
    return plan_id


def form_of(html: str, trigger: str) -> dict[str, str]:
    """The hidden fields of the action form for `trigger`."""
    match = re.search(
        rf'<form method="post" action="/plans/\d+/actions/{trigger}".*?</form>', html, re.S
    )
    assert match, f"no form for {trigger}"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', match.group(0)))


def test_the_reviewer_sees_the_plan_and_approves_it(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    login(client, ZISHAN)
    page = client.get(f"/plans/{plan_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "镇工会审核" in html and "目标1" in html and "1月活动" in html
    fields = form_of(html, "approve")
    assert fields["version"] == str(show_plan(rt, plan_id=plan_id, actor=ZISHAN).plan.version)
    done = client.post(
        f"/plans/{plan_id}/actions/approve",
        data={**fields, "comment": "同意"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/plans/{plan_id}?done=approve"
    assert show_plan(rt, plan_id=plan_id, actor=ZISHAN).plan.state == "county_approval"
    after = client.get(done.headers["location"])
    assert "已同意" in after.text
    assert "0/2 已同意" in after.text
