"""A page address of the wrong form (`/plans/abc`) or an unknown one answers with the Chinese
error page, never the API's JSON (`engine/http/errors.py` with `engine/http/refusals.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.service.runtime import Runtime
from tests.http.helpers import login, set_passwords
from tests.world import setup_world

HUGE = 2**63


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    setup_world(rt)
    set_passwords(rt, ["chen-school"])
    with TestClient(create_app(rt), follow_redirects=False) as test_client:
        login(test_client, "chen-school")
        yield test_client


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/plans/abc", 404, "地址 /plans/abc 不存在"),
        ("/plans/1.5", 404, "地址 /plans/1.5 不存在"),
        ("/no-such-page", 404, "地址 /no-such-page 不存在"),
        ("/plans/abc/edit", 422, "请求有误：plan_id："),
        ("/plans/99999", 404, "没有编号为 #99999 的计划"),
        # Beyond every database's integer: no such plan, not a crash in the driver.
        (f"/plans/{HUGE}", 404, f"没有编号为 #{HUGE} 的计划"),
        (f"/plans/{HUGE}/edit", 404, f"没有编号为 #{HUGE} 的计划"),
        (f"/plans/{HUGE}/report", 404, f"没有编号为 #{HUGE} 的计划"),
    ],
)
def test_a_wrong_page_address_shows_the_chinese_error_page(
    client: TestClient, path: str, status: int, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>出错了</h1>" in response.text and message in response.text
    assert '"error"' not in response.text


def test_a_wrong_method_on_a_page_shows_the_error_page(client: TestClient) -> None:
    response = client.put("/plans")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "不接受 PUT 请求" in response.text


def test_the_api_still_answers_json(client: TestClient) -> None:
    unknown = client.get("/api/nothing-here")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "route.not_found")
    anonymous = client.get("/api/plans/abc")  # who asks is checked before what is asked
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401,
        "auth.token_required",
    )
