"""Schemathesis against the app's own OpenAPI document (`app.openapi()`), on SQLite: for every
operation, requests generated from the schema (positive) and requests that violate it (negative),
sent as the county's administrator with a real bearer token, must never answer 5xx; a request
that violates the schema must be refused (4xx), never carried out; and every answer must conform
to the schema (documented status, content type, body).

pytest 9 breaks `schema.parametrize`, so Hypothesis is driven directly: one test per operation
and generation mode, each a `@given` over `operation.as_strategy(mode)`, few examples,
derandomized (the same cases every run).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from engine.core.clock import SimulatedClock
from engine.demo.world import ADMIN
from engine.http.api import router
from engine.http.app import create_app
from tests.conftest import START, make_runtime
from tests.http.helpers import bearer
from tests.world import live_plan, setup_world

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Target:
    app: FastAPI
    schema: Any
    headers: dict[str, str]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Target]:
    """One world for the whole module (a fresh one per case would cost most of the time)."""
    path = tmp_path_factory.mktemp("schemathesis") / "planflow.db"
    shutil.copy(sqlite_template, path)
    rt = make_runtime(f"sqlite:///{path}", SimulatedClock(START))
    setup_world(rt)
    live_plan(rt)
    app = create_app(rt)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield Target(app, schema, bearer(rt, ADMIN))
    rt.database.dispose()


def operations() -> list[Any]:
    """Every (method, path) of the API, as its router declares them (routes included from
    routers are walked as FastAPI matches them)."""
    found = sorted(
        (method, str(context.path))
        for context in iter_route_contexts(router.routes)
        for method in context.methods or ()
    )
    return [
        pytest.param(
            method,
            path,
            mode,
            id=f"{method}-{path}-{mode.value}",
        )
        for method, path in found
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]


@pytest.mark.parametrize(("method", "path", "mode"), operations())
def test_operation(target: Target, method: str, path: str, mode: GenerationMode) -> None:
    operation = target.schema[path][method]
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    seen: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # report a failure as found, unshrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, headers=target.headers))
    def run(case: Any) -> None:
        seen.append(case.call_and_validate(checks=checks).status_code)

    try:
        run()
    except Unsatisfiable:
        # Nothing of this operation can be sent against its schema (no parameter, no body,
        # or none whose type anything violates): there is no negative case to send.
        if mode is not GenerationMode.NEGATIVE:
            raise
        pytest.skip("no request can violate this operation's schema")
    assert 401 not in seen  # the token is real: every case was judged as the administrator's
    if mode is GenerationMode.POSITIVE and method == "GET" and "{" not in path:
        assert any(200 <= status < 300 for status in seen), seen  # lists answer


HUGE = 2**63  # beyond SQLite's and PostgreSQL's integers alike


def id_routes() -> list[Any]:
    """Every (method, path) with an integer path parameter, that parameter as the huge id."""
    found = []
    for context in iter_route_contexts(router.routes):
        path = str(context.path)
        for method in sorted(context.methods or ()):
            if "_id}" in path:
                found.append(pytest.param(method, path, id=f"{method}-{path}"))
    return found


@pytest.mark.parametrize(("method", "path"), id_routes())
def test_an_id_beyond_the_database_is_refused(target: Target, method: str, path: str) -> None:
    url = "".join(
        str(HUGE) if part.endswith("_id}") else part for part in re.split(r"(\{[^}]+\})", path)
    ).replace("{trigger}", "submit")
    with TestClient(target.app) as client:
        response = client.request(method, url, headers=target.headers, json={})
    assert response.status_code == 422, response.text
