"""Every page route that writes refuses a request another site could have made: no CSRF token, a
forged one, another session's, or a browser saying the request came from elsewhere
(`Sec-Fetch-Site`, `Origin`); and nothing is written (the whole database is compared before and
after). The routes are walked from the app itself: a new page route that writes without a case
here fails `test_every_page_write_has_a_case`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from engine.http.app import create_app
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.http.helpers import login, set_passwords
from tests.world import SEQUENCE, setup_world, small_plan

FORGED = "表单已过期或并非来自本站"
DRAFTER, ADMIN, OTHER = "chen-school", "admin-county", "liu-factory"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NOT_PAGES = ("/api/", "/login")  # the API takes bearer tokens; /login has its own form token


@dataclass(frozen=True)
class Case:
    user: str
    url: str
    data: dict[str, str]


def cases(plan_id: int, version: int) -> dict[str, Case]:
    """One request per page route that writes, as its own page would send it (without the
    token), by a user who may make it."""
    plan_fields = {
        "key": uuid.uuid4().hex,
        "title": "梓山中学工会2027年工作计划",
        "year": "2027",
        "org": "zishan-middle-school",
        "template": "annual-work-plan",
        "item_row": "i1",
        "item_month": "3",
        "item_title": "庆祝三八国际劳动妇女节",
        "item_detail": "",
        "item_due_day": "",
    }
    new_password = {"password": "a-new-long-password", "password_again": "a-new-long-password"}
    return {
        "/logout": Case(DRAFTER, "/logout", {}),
        "/logout/everywhere": Case(DRAFTER, "/logout/everywhere", {}),
        "/plans/new": Case(DRAFTER, "/plans/new", plan_fields),
        "/plans/{plan_id}/edit": Case(
            DRAFTER, f"/plans/{plan_id}/edit", {**plan_fields, "version": str(version)}
        ),
        "/plans/{plan_id}/amend": Case(
            DRAFTER, f"/plans/{plan_id}/amend", {**plan_fields, "version": str(version)}
        ),
        "/plans/{plan_id}/report": Case(
            DRAFTER, f"/plans/{plan_id}/report", {"key": uuid.uuid4().hex, "version": "0"}
        ),
        "/plans/{plan_id:int}/actions/{trigger}": Case(
            DRAFTER,
            f"/plans/{plan_id}/actions/submit",
            {"version": str(version), "idempotency_key": uuid.uuid4().hex},
        ),
        "/admin/templates/check": Case(ADMIN, "/admin/templates/check", {"source": SEQUENCE}),
        "/admin/templates": Case(
            ADMIN, "/admin/templates", {"source": SEQUENCE, "filename": "sequence.yaml"}
        ),
        "/admin/orgs": Case(
            ADMIN, "/admin/orgs", {"code": "new-union", "name": "新工会", "parent": "zishan-town"}
        ),
        "/admin/users": Case(
            ADMIN,
            "/admin/users",
            {"username": "ma-new", "name": "马新", "org": "zishan-town", "role": "drafter"},
        ),
        "/admin/users/{username}/roles": Case(
            ADMIN, f"/admin/users/{OTHER}/roles", {"role": "township_reviewer"}
        ),
        "/admin/users/{username}/roles/{role}/revoke": Case(
            ADMIN, f"/admin/users/{OTHER}/roles/drafter/revoke", {}
        ),
        "/admin/users/{username}/deactivate": Case(ADMIN, f"/admin/users/{OTHER}/deactivate", {}),
        "/admin/users/{username}/password": Case(
            ADMIN, f"/admin/users/{OTHER}/password", new_password
        ),
    }


def page_writes(app: FastAPI) -> set[str]:
    """The paths of the app's page routes that write (not the API, not /login)."""

    def walk(routes: list[Any]) -> Iterator[tuple[str, set[str]]]:
        for route in routes:
            if hasattr(route, "effective_candidates"):  # an included router
                yield from walk(route.effective_candidates())
            elif hasattr(route, "original_route"):
                yield route.path, set(getattr(route.original_route, "methods", None) or ())
            else:
                yield getattr(route, "path", ""), set(getattr(route, "methods", None) or ())

    return {
        path
        for path, methods in walk(list(app.routes))
        if methods & WRITES and not path.startswith(NOT_PAGES)
    }


def snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to compare before and after."""
    with rt.database.read() as tx:
        return {
            table.name: sorted((tuple(row) for row in tx.execute(sa.select(table))), key=repr)
            for table in SQLModel.metadata.sorted_tables
        }


@dataclass
class World:
    rt: Runtime
    app: FastAPI
    cases: dict[str, Case]


@pytest.fixture
def world(rt: Runtime) -> World:
    setup_world(rt)
    set_passwords(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor=DRAFTER).plan_id
    version = show_plan(rt, plan_id=plan_id, actor=DRAFTER).plan.version
    return World(rt, create_app(rt), cases(plan_id, version))


def test_every_page_write_has_a_case(world: World) -> None:
    routes = page_writes(world.app)
    assert "/logout" in routes and "/admin/users/{username}/deactivate" in routes  # the walk works
    assert routes - set(world.cases) == set(), "page routes that write with no CSRF case here"
    assert set(world.cases) - routes == set(), "cases for routes the app no longer has"


# How each refused request differs from the page's own, given the session's own token and
# another session's: (extra form fields, extra headers).
Refusal = Callable[[str, str], tuple[dict[str, str], dict[str, str]]]
REFUSALS: dict[str, Refusal] = {
    "missing": lambda own, other: ({}, {}),
    "forged": lambda own, other: ({"csrf_token": secrets.token_urlsafe(32)}, {}),
    "forged-header": lambda own, other: ({}, {"X-CSRF-Token": secrets.token_urlsafe(32)}),
    "another-session": lambda own, other: ({"csrf_token": other}, {}),
    "another-session-header": lambda own, other: ({}, {"X-CSRF-Token": other}),
    "cross-site-fetch": lambda own, other: (
        {"csrf_token": own},
        {"Sec-Fetch-Site": "cross-site"},
    ),
    "same-site-fetch": lambda own, other: ({"csrf_token": own}, {"Sec-Fetch-Site": "same-site"}),
    "cross-site-origin": lambda own, other: (
        {"csrf_token": own},
        {"Origin": "https://evil.example"},
    ),
}


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_every_page_write_refuses_a_request_from_elsewhere_and_writes_nothing(
    world: World, refusal: str
) -> None:
    with (
        TestClient(world.app, follow_redirects=False) as drafter,
        TestClient(world.app, follow_redirects=False) as admin,
        TestClient(world.app, follow_redirects=False) as elsewhere,
    ):
        tokens = {DRAFTER: login(drafter, DRAFTER), ADMIN: login(admin, ADMIN)}
        clients = {DRAFTER: drafter, ADMIN: admin}
        other_token = login(elsewhere, DRAFTER)  # the same user's session on another browser
        before = snapshot(world.rt)
        for path, case in sorted(world.cases.items()):
            fields, headers = REFUSALS[refusal](tokens[case.user], other_token)
            response = clients[case.user].post(
                case.url, data={**case.data, **fields}, headers=headers
            )
            assert response.status_code == 403, (path, response.status_code, response.text[:500])
            assert FORGED in response.text, path
            assert snapshot(world.rt) == before, f"{path} wrote something ({refusal})"


def test_the_cases_are_accepted_with_the_right_token(world: World) -> None:
    """The control: with its session's token, each case passes the check (its route may still
    refuse it for its own reasons, but not as forged)."""
    for path, case in sorted(world.cases.items()):
        with TestClient(world.app, follow_redirects=False) as client:
            token = login(client, case.user)
            response = client.post(
                case.url,
                data={**case.data, "csrf_token": token},
                headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
            )
            assert FORGED not in response.text, (path, response.status_code)
