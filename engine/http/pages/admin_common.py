"""What the admin pages share: who may see them, reading their forms and queries strictly, and
showing a refused write's message in Chinese next to the form it came from.

An administrator is a logged-in holder of the built-in `admin` role; to anyone else the admin
pages do not exist (404, as any object outside one's scope). A field or query parameter the page
does not know is refused (422) naming it, never dropped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from engine.core.errors import ActionRefused, NotFound, PlanflowError
from engine.core.i18n import N_, use_language
from engine.http.auth import CSRF_FIELD, csrf_checked, page_caller
from engine.http.pages.errors import PAGE_LANGUAGE
from engine.http.pages.fields import (
    not_text,
    repeated_field,
    unknown_field,
    unknown_parameter,
)
from engine.service.callers import Caller

NO_PAGE = N_("this page does not exist")
UNKNOWN_VALUE = N_("the query parameter {name!r} cannot be {value!r}")


def _admin(caller: Caller) -> Caller:
    if not caller.is_admin:
        raise NotFound(NO_PAGE, code="page.not_found")
    return caller


def admin_reader(caller: Annotated[Caller, Depends(page_caller)]) -> Caller:
    return _admin(caller)


def admin_writer(caller: Annotated[Caller, Depends(csrf_checked)]) -> Caller:
    return _admin(caller)


AdminCaller = Annotated[Caller, Depends(admin_reader)]  # an admin page
AdminFormCaller = Annotated[Caller, Depends(admin_writer)]  # an admin page's write


@dataclass(frozen=True)
class Upload:
    filename: str  # empty when the file field was left empty
    content: bytes


async def form_fields(
    request: Request, text: Collection[str], files: Collection[str] = ()
) -> tuple[dict[str, str], dict[str, Upload]]:
    """The posted form's text fields and files (read, and closed), each at most once, each one
    the page knows."""
    form = await request.form()
    try:
        values: dict[str, str] = {}
        uploads: dict[str, Upload] = {}
        for name, value in form.multi_items():
            if name in values or name in uploads:
                raise repeated_field(name)
            if name in files and isinstance(value, UploadFile):
                uploads[name] = Upload(value.filename or "", await value.read())
            elif name in text or name == CSRF_FIELD:
                if not isinstance(value, str):
                    raise not_text(name)
                values[name] = value
            else:
                raise unknown_field(name, [*text, *files])
    finally:
        await form.close()
    values.pop(CSRF_FIELD, None)
    return values, uploads


def query_value(request: Request, allowed: dict[str, dict[str, str]]) -> dict[str, str]:
    """The query's parameters, each one the page knows with one of its known values; `allowed`
    maps a parameter to its values and what each says on the page."""
    said: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise unknown_parameter(name)
        if value not in allowed[name] or name in said:
            raise ActionRefused(
                UNKNOWN_VALUE, code="query.unknown_value", field=name, name=name, value=value
            )
        said[name] = allowed[name][value]
    return said


def in_chinese(error: PlanflowError) -> str:
    """The error's message as the pages show it."""
    with use_language(PAGE_LANGUAGE):
        return error.message
