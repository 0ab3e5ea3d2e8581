"""What every route of the JSON API shares: strict input models, and the answer to a list.

Input models are strict (`false` is not the integer 0, `"3"` is not 3) and forbid unknown fields,
and every route refuses query parameters it does not declare (`only_declared_query`, a dependency
of the whole API): a field or a filter the API cannot honour is refused (`request.invalid`,
naming it), never ignored.
"""

from __future__ import annotations

from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from engine.core.i18n import N_, Message
from engine.http.refusals import REASONS, RequestRefused

if TYPE_CHECKING:  # FastAPI's own type of a parameter; only named here
    from fastapi._compat import ModelField

GIVEN_TWICE = N_("given more than once")


class Strict(BaseModel):
    """The base of every request body of the API."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Answer(BaseModel):
    """The base of every response body of the API (read-only, so extra fields never occur)."""

    model_config = ConfigDict(from_attributes=True)


def only_declared_query(request: Request) -> None:
    """Refuse a query parameter the route does not declare, or a single one sent twice: a filter
    the API cannot honour is an error, never ignored (FastAPI itself ignores the unknown and keeps
    the last of the repeated)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = {param.alias: param for param in _query_params(route.dependant)}
    problems: list[tuple[str, Message]] = []
    for name in dict.fromkeys(request.query_params.keys()):
        param = declared.get(name)
        if param is None:
            problems.append((name, Message.of(REASONS["extra_forbidden"])))
        elif len(request.query_params.getlist(name)) > 1 and not _many(param.field_info.annotation):
            problems.append((name, Message.of(GIVEN_TWICE)))
    if problems:
        raise RequestRefused(problems)


def _many(annotation: Any) -> bool:
    """Whether a query parameter's type takes several values (`list[str]`, `list[str] | None`)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_many(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


def _query_params(dependant: Dependant) -> list[ModelField]:
    """The query parameters of a route and of every dependency it has."""
    found = list(dependant.query_params)
    for dependency in dependant.dependencies:
        found.extend(_query_params(dependency))
    return found
