"""How the HTTP edge answers a `PlanflowError`: one status per kind of error, one JSON body.

The status is decided here and only here, from the error's class (`PlanBusy` before `Conflict`:
the most specific class wins): 401 not logged in, 429 throttled, 404 not found (or out of the
caller's scope), 409 a conflict or something that exists already, 403 not permitted, 422 an
action refused or an input with problems, 503 a plan busy for a moment (send it again), 500 a
deployment whose settings are unusable, 400 anything else the caller sent.

The body is one shape for every error of the API, the engine's own and the request's alike
(`request_refused`: malformed JSON, wrong types, unknown fields, unknown routes):

    {"error": {"code", "message", "field"?, "fields", "retryable", "problems"?}}

`code` and `fields` are for programs, `message` is in the reader's language for people, `field`
names the input that was wrong when there is one (`comment`, `body.goals[0].target`), and
`problems` lists every located problem of an input file or of a request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from engine.core.errors import (
    ActionRefused,
    AlreadyExists,
    ConfigurationError,
    Conflict,
    InputError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PlanBusy,
    PlanflowError,
    TooManyAttempts,
)
from engine.core.i18n import Message
from engine.http.refusals import MethodNotAllowed, RequestRefused, refused_http, refused_request

STATUS: tuple[tuple[type[PlanflowError], int], ...] = (
    (NotAuthenticated, 401),
    (TooManyAttempts, 429),
    (NotFound, 404),
    (PlanBusy, 503),
    (Conflict, 409),
    (AlreadyExists, 409),
    (PermissionDenied, 403),
    (ActionRefused, 422),
    (InputError, 422),
    (RequestRefused, 422),
    (ConfigurationError, 500),
    (MethodNotAllowed, 405),
)


def status_of(error: PlanflowError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return value.render()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def body_of(error: PlanflowError) -> dict[str, Any]:
    fields = {name: _plain(value) for name, value in error.fields.items()}
    said: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(fields.get("field"), str):
        said["field"] = fields["field"]
    said |= {"fields": fields, "retryable": error.retryable}
    if isinstance(error, InputError):
        said["problems"] = [
            {"file": p.file, "line": p.line, "column": p.column, "message": p.said()}
            for p in error.problems
        ]
    elif isinstance(error, RequestRefused):
        said["problems"] = [{"field": f, "message": m.render()} for f, m in error.problems]
    return {"error": said}


def answer(error: PlanflowError) -> JSONResponse:
    headers = {"Retry-After": "1"} if isinstance(error, PlanBusy) else None
    return JSONResponse(body_of(error), status_code=status_of(error), headers=headers)


def is_api(request: Request) -> bool:
    """Whether the request is for a program (the JSON API, the health checks), not a page."""
    path = request.url.path
    return path.startswith("/api/") or path in ("/api", "/healthz", "/readyz")


def install(app: FastAPI) -> None:
    """Answer every `PlanflowError` a route raises with its status, and every request refused
    before a route runs (validation, unknown address or method) as one: JSON for the API, the
    error page (or the login page) for pages."""

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, PlanflowError)
        if is_api(request):
            return answer(error)
        from engine.http.pages.errors import page_answer  # the pages import this module

        return page_answer(request, error, status_of(error))

    async def handle_invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return await handle(request, refused_request(error))

    async def handle_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        refused = refused_http(error, method=request.method, path=request.url.path)
        return await handle(request, refused)

    app.add_exception_handler(PlanflowError, handle)
    app.add_exception_handler(RequestValidationError, handle_invalid)
    app.add_exception_handler(HTTPException, handle_http)
