"""Shared helpers of the HTTP tests: passwords for the demo world's users, logging a test
client in through the real login form, and bearer tokens for the API.

    setup_world(rt); set_passwords(rt)
    with TestClient(create_app(rt)) as client:
        csrf = login(client, "chen-school")            # the session's CSRF token, for page writes
        client.post("/plans/1/actions/submit", data={"csrf_token": csrf, ...})
        client.get("/api/inbox", headers=bearer(rt, "zhao-zishan"))
"""

from __future__ import annotations

import re
from functools import cache

from fastapi.testclient import TestClient

from engine.demo.seed import (
    DEMO_PASSWORD as DEMO_PASSWORD,  # the one demo password, shown by `serve --demo`
)
from engine.demo.world import PEOPLE
from engine.service.api_tokens import create_token
from engine.service.directory import find_any_user
from engine.service.passwords import hash_password
from engine.service.runtime import Runtime
from engine.store.people import set_password_hash

CSRF_FIELD = "csrf_token"
_HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_BODY_CSRF = re.compile(r'data-csrf-token="([^"]+)"')


@cache
def _demo_hash() -> str:
    """One argon2 hash of DEMO_PASSWORD for every user (hashing is slow on purpose)."""
    return hash_password(DEMO_PASSWORD)


def set_passwords(
    rt: Runtime, usernames: list[str] | None = None, password: str = DEMO_PASSWORD
) -> None:
    """Give every user of the demo world (or those named) `password`."""
    names = usernames if usernames is not None else [person[0] for person in PEOPLE]
    hashed = _demo_hash() if password == DEMO_PASSWORD else hash_password(password)
    with rt.database.transaction() as tx:
        for username in names:
            set_password_hash(tx, user_id=find_any_user(tx, username).id, password_hash=hashed)


def login_form_token(client: TestClient, next_path: str | None = None) -> str:
    """The CSRF token of a fresh login form (GET /login)."""
    response = client.get("/login", params={"next": next_path} if next_path else None)
    assert response.status_code == 200, response.text
    found = _HIDDEN_CSRF.search(response.text)
    assert found is not None, response.text
    return found.group(1)


def csrf_of(html: str) -> str:
    """The session's CSRF token as a page gives it (`<body data-csrf-token>`)."""
    found = _BODY_CSRF.search(html)
    assert found is not None, "no data-csrf-token on the page (not logged in?)"
    return found.group(1)


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> str:
    """Log `client` in through the login form; returns the session's CSRF token, for the
    `csrf_token` field of page forms or the `X-CSRF-Token` header."""
    token = login_form_token(client)
    response = client.post(
        "/login",
        data={"username": username, "password": password, CSRF_FIELD: token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/login").text)


def bearer(rt: Runtime, username: str, *, days: int | None = None) -> dict[str, str]:
    """Headers with a fresh API token of `username`."""
    made = create_token(rt, username=username, name="tests", days=days)
    return {"Authorization": f"Bearer {made.token}"}
