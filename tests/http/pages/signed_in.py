"""The plan pages' tests' client: the demo world with passwords, and switching the logged-in user
(helpers.login logs in a fresh client; a logged-in one is logged out first, cookies cleared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.service.runtime import Runtime
from tests.http.helpers import login, set_passwords
from tests.world import setup_world


@contextmanager
def world_client(rt: Runtime) -> Iterator[TestClient]:
    """A client of the app over the demo world, whose users all have the demo password."""
    setup_world(rt)
    set_passwords(rt)
    with TestClient(create_app(rt)) as client:
        yield client


def log_in_as(client: TestClient, username: str) -> str:
    """Log the client in as `username` (out of whoever it was first); the CSRF token."""
    client.cookies.clear()
    return login(client, username)
