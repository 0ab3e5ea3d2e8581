"""Logging a test client in to the pages, until tests/http/helpers.py (identity) lands: a session is
started with the service and its key put into the signed cookie by a test-only route."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from engine.http.auth import SESSION_KEY
from engine.service.passwords import set_password
from engine.service.runtime import Runtime
from engine.service.web_sessions import log_in

PASSWORD = "demo-password-2027"


def with_test_login(app: FastAPI, rt: Runtime) -> FastAPI:
    """Add `GET /test-login/{username}`: logs that user in (setting their password first)."""

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
