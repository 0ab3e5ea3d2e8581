"""A request the HTTP edge refuses before any route runs: malformed JSON, a wrong type, a missing
or unknown field (FastAPI's validation), an unknown address or method (Starlette's 404 and 405).

They become `PlanflowError`s here, so that the API answers them in the one error shape and the
pages with the error page, both in the reader's language: pydantic's English sentences are not
shown, its error *types* are translated into the catalogue's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from engine.core.errors import NotFound, PlanflowError
from engine.core.i18n import N_, Message

INVALID = N_("the request is not valid: {field}: {reason}")
NO_ROUTE = N_("there is nothing at {path}")
NO_METHOD = N_("{method} is not allowed at {path}")
REFUSED_HTTP = N_("the request was refused ({status})")

# pydantic's error types (https://docs.pydantic.dev/latest/errors/validation_errors/) that a
# client of the API meets, each as a sentence of the catalogue; `{…}` names pydantic's context.
REASONS: dict[str, str] = {
    "missing": N_("this field is required"),
    "extra_forbidden": N_("there is no such field"),
    "json_invalid": N_("the body is not valid JSON"),
    "json_type": N_("the body is not valid JSON"),
    "model_type": N_("expected an object"),
    "model_attributes_type": N_("expected an object"),
    "dict_type": N_("expected an object"),
    "list_type": N_("expected a list"),
    "string_type": N_("expected a string"),
    "int_type": N_("expected a whole number"),
    "int_parsing": N_("expected a whole number"),
    "int_from_float": N_("expected a whole number"),
    "float_type": N_("expected a number"),
    "float_parsing": N_("expected a number"),
    "finite_number": N_("expected a finite number"),
    "bool_type": N_("expected true or false"),
    "bool_parsing": N_("expected true or false"),
    "string_too_short": N_("too short: at least {min_length} character(s)"),
    "string_too_long": N_("too long: at most {max_length} character(s)"),
    "too_short": N_("too few: at least {min_length}"),
    "too_long": N_("too many: at most {max_length}"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be at most {le}"),
    "literal_error": N_("must be one of {expected}"),
    "enum": N_("must be one of {expected}"),
    "string_pattern_mismatch": N_("does not have the expected form"),
    "date_type": N_("expected a date (YYYY-MM-DD)"),
    "date_parsing": N_("expected a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("expected a date (YYYY-MM-DD)"),
    "datetime_type": N_("expected a date and time (ISO 8601)"),
    "datetime_parsing": N_("expected a date and time (ISO 8601)"),
    "datetime_from_date_parsing": N_("expected a date and time (ISO 8601)"),
    "timezone_aware": N_("needs a time zone"),
    "string_unicode": N_("expected text"),
    "value_error": N_("this value is not valid"),
    "assertion_error": N_("this value is not valid"),
}
OTHER_REASON = N_("this value is not valid ({kind})")
_LOCATIONS = ("body", "query", "path", "header", "cookie")


class RequestRefused(PlanflowError):
    """A request whose form is wrong, every problem of it named with the field it is in."""

    code = "request.invalid"

    def __init__(self, problems: Sequence[tuple[str, Message]]) -> None:
        self.problems = list(problems)
        field, reason = self.problems[0] if self.problems else ("", Message.of(OTHER_REASON))
        super().__init__(INVALID, field=field, reason=reason, count=len(self.problems))


def field_of(location: Sequence[int | str]) -> str:
    """`("body", "goals", 0, "target")` as `goals[0].target`; a query or path parameter by its
    name; the whole body (malformed JSON) as `body`."""
    parts = list(location)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    named = ""
    for part in parts:
        named += f"[{part}]" if isinstance(part, int) else (f".{part}" if named else str(part))
    return named


def reason_of(problem: dict[str, Any]) -> Message:
    kind = str(problem.get("type", ""))
    template = REASONS.get(kind)
    if template is None:
        return Message.of(OTHER_REASON, kind=kind)
    context = {name: str(value) for name, value in (problem.get("ctx") or {}).items()}
    return Message(template, context)


_NOT_JSON = ("json_invalid", "json_type")


def refused_request(error: RequestValidationError) -> RequestRefused:
    return RequestRefused(
        [
            ("body" if p.get("type") in _NOT_JSON else field_of(p["loc"]), reason_of(p))
            for p in error.errors()
        ]
    )


def refused_http(error: HTTPException, *, method: str, path: str) -> PlanflowError:
    if error.status_code == 400 and "parsing the body" in str(error.detail):
        # FastAPI's own refusal of a body it cannot even decode (not UTF-8): not valid JSON.
        return RequestRefused([("body", Message.of(REASONS["json_invalid"]))])
    if error.status_code == 404:
        return NotFound(NO_ROUTE, code="route.not_found", path=path)
    if error.status_code == 405:
        return MethodNotAllowed(NO_METHOD, method=method, path=path)
    return HttpRefused(REFUSED_HTTP, status=error.status_code)


class MethodNotAllowed(PlanflowError):
    code = "request.method_not_allowed"


class HttpRefused(PlanflowError):
    """Any other status Starlette raises itself (rare: a route's own `HTTPException`)."""

    code = "request.refused"
