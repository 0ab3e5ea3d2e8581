"""The error answers of the API as its OpenAPI document describes them (`errors.body_of` makes
them): one shape (`preconditions.ErrorAnswer`) for every status, listed on each route with the
statuses it can answer; and the forms of names and ids the routes take."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from engine.core.limits import MAX_ROW_ID
from engine.http.api.preconditions import ErrorAnswer  # the one error model of the schema

# An organisation's code, a username, a role (`directory`'s rule, for the schema).
CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TEMPLATE_NAME = r"^[a-z0-9-]+$"  # the template schema's rule
# The largest id a row can have (PostgreSQL's `integer`): a larger one is refused as input, not
# sent to the database (which would fail on it).
ID_MAX = MAX_ROW_ID
PlanId = Annotated[int, Path(ge=1, le=ID_MAX, description="the plan's id")]


_SAID = {
    400: "the request cannot be carried out as sent",
    401: "no valid bearer token",
    404: "no such thing within your scope (or not for you: never 403)",
    409: "it exists already, or it changed meanwhile",
    422: "the request, or an input file, has problems (each named)",
    503: "busy for a moment: send it again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route or router: these statuses, each with the error shape."""
    return {code: {"model": ErrorAnswer, "description": _SAID[code]} for code in statuses}


# What every route of the API may answer, whatever it does.
ALWAYS = errors(401, 404, 422)
