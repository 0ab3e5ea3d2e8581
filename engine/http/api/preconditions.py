"""The headers of the API's writes: `Idempotency-Key` (a repeated request is answered as the
first was, never applied twice) and `If-Match` (the plan version the client saw; a stale one is a
conflict); the `ETag` every plan answer carries; and the error answers the routes document (the
shape of `engine.http.errors.body_of`), so the OpenAPI schema states them.

`If-Match` takes the plan's ETag as it was answered (`"7"`) or the bare version (`7`); anything
else is refused naming the header, never ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import Field

from engine.core.i18n import N_, Message
from engine.http.api.common import Answer
from engine.http.refusals import RequestRefused

IF_MATCH = re.compile(r'\s*(?:W/)?(?:"([0-9]{1,18})"|([0-9]{1,18}))\s*')
BAD_IF_MATCH = N_('expected the plan\'s version as its ETag ("7") or a bare number (7)')
MAX_KEY = 200  # the longest idempotency key accepted (a uuid is 36 characters)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY,
        description="Any unique text; the same key with the same body is answered as the first "
        "time and writes nothing again, with another body it is refused (409).",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The plan version the change is based on, as its ETag ("7") or bare (7); '
        "a stale one is refused (409).",
    ),
]


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header names (None when it is not sent)."""
    if if_match is None:
        return None
    found = IF_MATCH.fullmatch(if_match)
    if found is None:
        raise RequestRefused([("If-Match", Message.of(BAD_IF_MATCH))])
    return int(found.group(1) or found.group(2))


def etag(version: int) -> str:
    return f'"{version}"'


def tag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


class ErrorDetail(Answer):
    """`engine.http.errors.body_of`'s shape."""

    code: str
    message: str
    field: str | None = Field(default=None, description="the input that was wrong, if one was")
    fields: dict[str, Any]
    retryable: bool
    problems: list[dict[str, Any]] | None = None


class ErrorAnswer(Answer):
    error: ErrorDetail


_WHY = {
    401: "no valid bearer token",
    404: "no such plan or organisation, or one beyond the caller's reach",
    409: "a stale If-Match, a reused Idempotency-Key with another body, or a duplicate",
    422: "the request or an action refused, naming the field",
    503: "the plan is busy for a moment: send it again",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer, "description": why} for status, why in _WHY.items()
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {"model": ErrorAnswer, "description": "the caller's roles do not allow it"},
}
