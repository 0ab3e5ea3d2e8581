"""The JSON API's tests: an app over the demo world (on SQLite and PostgreSQL, `rt`), and bearer
tokens of its users, made once per test.

    def test_x(api: Api) -> None:
        response = api.client.get("/api/inbox", headers=api.as_("zhao-zishan"))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from engine.http.app import create_app
from engine.service.runtime import Runtime
from tests.http.helpers import bearer
from tests.world import setup_world


@dataclass
class Api:
    rt: Runtime
    client: TestClient
    _tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        """The `Authorization` header of a token of `username` (one per user and test)."""
        if username not in self._tokens:
            self._tokens[username] = bearer(self.rt, username)
        return dict(self._tokens[username])


@pytest.fixture
def api(rt: Runtime) -> Iterator[Api]:
    setup_world(rt)
    with TestClient(create_app(rt)) as client:
        yield Api(rt, client)


def masked_error(response: Response) -> dict[str, Any]:
    """The error without its wording and field values: what must not differ between a refusal
    of an object outside the caller's scope and of one that does not exist."""
    error: dict[str, Any] = response.json()["error"]
    return {**error, "message": "", "fields": {}}
