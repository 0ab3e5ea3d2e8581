"""The login page: logging in through the form, where the browser goes next, wrong logins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.http.pages.login import local_path
from engine.service.runtime import Runtime
from tests.http.helpers import DEMO_PASSWORD, bearer, login, login_form_token, set_passwords
from tests.world import setup_world


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    setup_world(rt)
    set_passwords(rt)
    with TestClient(create_app(rt)) as test_client:
        yield test_client


def test_login_gives_a_session_and_its_csrf_token(client: TestClient) -> None:
    csrf = login(client, "chen-school")
    page = client.get("/login")
    assert "陈静" in page.text and "退出所有设备" in page.text
    assert f'data-csrf-token="{csrf}"' in page.text


def test_login_goes_to_next_when_it_is_local(client: TestClient) -> None:
    token = login_form_token(client, "/plans/3?year=2027")
    response = client.post(
        "/login",
        data={
            "username": "chen-school",
            "password": DEMO_PASSWORD,
            "csrf_token": token,
            "next": "/plans/3?year=2027",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/plans/3?year=2027"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "plans",
        "",
        "/a\nb",
        "javascript:alert(1)",
    ],
)
def test_next_never_leaves_the_site(target: str) -> None:
    assert local_path(target) == "/"


def test_wrong_password_says_so_in_chinese(client: TestClient) -> None:
    token = login_form_token(client)
    response = client.post(
        "/login", data={"username": "chen-school", "password": "nope-nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert 'value="chen-school"' in response.text


def test_bearer_token_is_accepted(rt: Runtime, client: TestClient) -> None:
    headers = bearer(rt, "chen-school")
    assert headers["Authorization"].startswith("Bearer pf_")
