"""The HTTP edge answers an error with its status and `{"error": {code, message, field?, fields,
retryable, problems?}}`, the engine's errors and the requests refused before a route alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.core.errors import (
    ActionRefused,
    NotFound,
    PermissionDenied,
    PlanBusy,
    PlanflowError,
    TemplateError,
)
from engine.core.i18n import set_language
from engine.core.template.validate import load_template
from engine.http.api import router as api_router
from engine.http.api.common import Strict, only_declared_query
from engine.http.app import create_app
from tests.conftest import START, make_runtime


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    rt = make_runtime(f"sqlite:///{tmp_path / 'unused.db'}", SimulatedClock(START))
    app = create_app(rt)
    yield app
    rt.database.dispose()
    set_language("en")


def answer(app: FastAPI, error: PlanflowError) -> tuple[int, dict[str, object]]:
    def fail() -> None:
        raise error

    app.add_api_route("/api/fail", fail)
    with TestClient(app) as client:
        response = client.get("/api/fail")
    body = response.json()
    assert set(body) == {"error"}, body
    return response.status_code, body["error"]


def test_a_refused_action_is_422_with_its_code_and_fields(app: FastAPI) -> None:
    error = ActionRefused(
        "'{trigger}' needs a comment saying why (--comment)",
        code="action.comment_required",
        trigger="return",
        state="township_review",
        field="comment",
    )
    assert answer(app, error) == (
        422,
        {
            "code": "action.comment_required",
            "message": "'return' needs a comment saying why (--comment)",
            "field": "comment",
            "fields": {"trigger": "return", "state": "township_review", "field": "comment"},
            "retryable": False,
        },
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=7), 404),
        (PermissionDenied("not yours", code="action.role_required"), 403),
        (PlanBusy(7), 503),
        (PlanflowError("something else"), 400),
    ],
)
def test_each_kind_of_error_has_its_status(app: FastAPI, error: PlanflowError, status: int) -> None:
    got, body = answer(app, error)
    assert (got, body["code"], body["retryable"]) == (status, error.code, error.retryable)


def test_the_message_is_in_the_deployments_language(app: FastAPI) -> None:
    set_language("zh_CN")
    _, body = answer(app, PlanBusy(7))
    assert body["message"] == "计划 #7 正由他人修改，请稍后重试"
    assert body["fields"] == {"plan_id": 7}


def test_a_file_with_problems_lists_them_located(app: FastAPI) -> None:
    with pytest.raises(TemplateError) as caught:
        load_template("", source="t.yaml")
    status, body = answer(app, caught.value)
    assert (status, body["code"]) == (422, "input.invalid")
    assert body["message"] == "t.yaml: the file is empty"
    assert body["fields"] == {"count": 1}
    assert body["problems"] == [
        {"file": "t.yaml", "line": 0, "column": 0, "message": "the file is empty"}
    ]


class Body(Strict):
    year: int
    title: str


def answer_request(
    app: FastAPI, method: str, path: str, **sent: object
) -> tuple[int, dict[str, Any]]:
    def create(body: Body) -> dict[str, int]:
        return {"year": body.year}

    app.add_api_route("/api/things", create, methods=["POST"])
    with TestClient(app) as client:
        response = client.request(method, path, **sent)  # type: ignore[arg-type]
    body = response.json()
    assert set(body) == {"error"}, body
    return response.status_code, body["error"]


@pytest.mark.parametrize(
    ("sent", "field", "message"),
    [
        ({"json": {"year": False, "title": "t"}}, "year", "year: expected a whole number"),
        ({"json": {"year": "2027", "title": "t"}}, "year", "year: expected a whole number"),
        ({"json": {"year": 2027}}, "title", "title: this field is required"),
        ({"json": {"year": 2027, "title": "t", "x": 1}}, "x", "x: there is no such field"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "", ""),
    ],
)
def test_a_request_of_the_wrong_form_is_422_naming_the_field(
    app: FastAPI, sent: dict[str, object], field: str, message: str
) -> None:
    status, body = answer_request(app, "POST", "/api/things", **sent)
    assert (status, body["code"]) == (422, "request.invalid")
    if field:
        assert body["field"] == field
        assert body["message"] == f"the request is not valid: {message}"
    else:
        assert "not valid JSON" in body["message"]
    assert body["problems"][0]["field"] == body["field"]


def test_an_unknown_address_or_method_of_the_api_answers_in_the_error_shape(app: FastAPI) -> None:
    assert answer_request(app, "GET", "/api/nothing-here")[1]["code"] == "route.not_found"
    status, body = answer_request(app, "DELETE", "/api/things")
    assert (status, body["code"]) == (405, "request.method_not_allowed")


def test_a_page_address_of_the_wrong_form_shows_the_error_page(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_the_api_refuses_a_query_parameter_it_does_not_declare_or_one_sent_twice(
    app: FastAPI,
) -> None:
    def listing(
        year: int | None = None, state: Annotated[list[str] | None, Query()] = None
    ) -> dict[str, int]:
        return {"year": year or 0}

    probe = APIRouter(prefix="/api", dependencies=[Depends(only_declared_query)])
    probe.add_api_route("/probe", listing)
    app.include_router(probe)
    with TestClient(app) as client:
        assert client.get("/api/probe", params={"year": 2027}).json() == {"year": 2027}
        assert client.get("/api/probe?state=a&state=b").status_code == 200
        unknown = client.get("/api/probe", params={"yaer": 2027})
        twice = client.get("/api/probe?year=2027&year=2028")
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "yaer")
    said = unknown.json()["error"]["message"]
    assert said == "the request is not valid: yaer: there is no such field"
    assert (twice.status_code, twice.json()["error"]["field"]) == (422, "year")


def test_every_route_of_the_api_refuses_undeclared_query_parameters() -> None:
    assert Depends(only_declared_query) in api_router.dependencies
