"""The pages' templates: Jinja2 with autoescaping everywhere, and block partials for htmx
(jinja2-fragments: a route renders one block of a page for an `HX-Request`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2_fragments.fastapi import Jinja2Blocks

from engine.http.auth import CSRF_FIELD
from engine.service.callers import Caller

# Autoescaping for every template, whatever its file name ends with; undefined names fail.
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
)
TEMPLATES = Jinja2Blocks(env=_ENV)
TEMPLATES.env.globals["csrf_field"] = CSRF_FIELD


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    caller: Caller | None = None,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    """The page `name` (or only its `block`, for htmx), with the caller and their CSRF token."""
    values = {"caller": caller, "csrf_token": caller.csrf_token if caller else None}
    values.update(context or {})
    return TEMPLATES.TemplateResponse(
        request, name, values, status_code=status_code, block_name=block
    )
