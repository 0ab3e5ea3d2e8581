"""The HTTP edge answers an error with its status and `{code, message, fields, retryable}`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
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
    return response.status_code, response.json()


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
    assert (status, body["code"]) == (400, "input.invalid")
    assert body["message"] == "t.yaml: the file is empty"
    assert body["fields"] == {
        "count": 1,
        "problems": [{"file": "t.yaml", "line": 0, "column": 0, "message": "the file is empty"}],
    }
