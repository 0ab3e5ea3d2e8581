"""The admin page tests' world and login, until tests/http/helpers.py (identity) lands: the demo
world, a township administrator beside the county's, and a session started with the service
whose key a test-only route puts into the signed cookie."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.http.auth import SESSION_KEY
from engine.service import directory
from engine.service.passwords import set_password
from engine.service.runtime import Runtime
from engine.service.web_sessions import log_in
from tests.world import setup_world

PASSWORD = "admin-pages-2027"
COUNTY_ADMIN = "admin-county"  # the demo world's, at the county: the whole tree
TOWNSHIP_ADMIN = "admin-zishan"  # at 梓山镇: it and the unions below it only


def admin_world(rt: Runtime) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username=TOWNSHIP_ADMIN, name="梓山镇管理员", org="zishan-town", roles=["admin"]
    )


def app_with_login(rt: Runtime) -> FastAPI:
    """The app, plus `GET /test-login/{username}` logging that user in."""
    app = create_app(rt)

    def test_login(request: Request, username: str) -> dict[str, str]:
        set_password(rt, username=username, password=PASSWORD)
        started = log_in(rt, username=username, password=PASSWORD, address="testclient")
        request.session[SESSION_KEY] = started.key
        return {"csrf_token": started.csrf_token}

    app.add_api_route("/test-login/{username}", test_login)
    return app


def login(client: TestClient, username: str) -> str:
    """Log `client` in as `username`; the session's CSRF token."""
    response = client.get(f"/test-login/{username}")
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


def text_of(html: str) -> str:
    """The page's text without tags, whitespace squeezed: what a reader sees."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
