"""The login page (`/login`), logging out (`POST /logout`) and out of every device
(`POST /logout/everywhere`).

The login form carries its own CSRF token, kept in the signed cookie before anyone is logged in,
so that another site cannot log a browser in as someone else. After a login the browser goes to
`next` when that is a path of this site, else to the inbox; never to another site. Logging out
of a session that is already over (expired, ended elsewhere) just lands on the login page.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.core.errors import PlanflowError
from engine.core.i18n import use_language
from engine.http.auth import (
    CSRF_FIELD,
    SESSION_KEY,
    csrf_checked,
    page_caller,
    runtime_of,
    same_site,
)
from engine.http.errors import status_of
from engine.http.pages.errors import PAGE_LANGUAGE
from engine.http.rendering import render
from engine.http.security import client_address
from engine.service.callers import Caller
from engine.service.web_sessions import log_in, log_out, log_out_everywhere

router = APIRouter()

LOGIN_CSRF_KEY = "login_csrf"  # in the signed cookie, until the login succeeds
HOME = "/"
LOGIN_FIELDS = frozenset({"username", "password", CSRF_FIELD, "next"})
FORM_EXPIRED = "登录页面已过期或并非来自本站，请重新输入。"
UNKNOWN_FIELDS = "表单含有无法识别的字段：{names}"


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site (`/plans/3?x=1`), else the inbox.

    Refused: anything with a scheme or a host (`https://evil`, `//evil`), backslashes (some
    browsers read `/\\evil` as `//evil`), control characters and relative paths."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME
    return target


def optional_caller(request: Request) -> Caller | None:
    try:
        return page_caller(request)
    except PlanflowError:
        return None


def _login_page(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    token = request.session.get(LOGIN_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[LOGIN_CSRF_KEY] = token
    context = {"login_csrf": token, "next": next_path, "username": username, "error": error}
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login")
def login_page(
    request: Request, caller: Annotated[Caller | None, Depends(optional_caller)]
) -> Response:
    unknown = sorted(set(request.query_params) - {"next"})
    next_path = local_path(request.query_params.get("next"))
    if unknown:
        return _login_page(
            request,
            next_path=next_path,
            error=UNKNOWN_FIELDS.format(names="、".join(unknown)),
            status_code=422,
        )
    if caller is not None:
        return render(request, "login.html", {"next": next_path}, caller=caller)
    return _login_page(request, next_path=next_path)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    next_path = local_path(fields.get("next"))
    username = fields.get("username", "")
    unknown = sorted(set(form.keys()) - LOGIN_FIELDS)
    if unknown or len(fields) != len(form.multi_items()):
        names = "、".join(unknown) or "（文件）"
        return _login_page(
            request,
            next_path=next_path,
            username=username,
            error=UNKNOWN_FIELDS.format(names=names),
            status_code=422,
        )
    expected = request.session.get(LOGIN_CSRF_KEY)
    sent = fields.get(CSRF_FIELD, "")
    if not (
        isinstance(expected, str)
        and sent
        and secrets.compare_digest(sent, expected)
        and same_site(request)
    ):
        request.session.pop(LOGIN_CSRF_KEY, None)
        return _login_page(
            request, next_path=next_path, username=username, error=FORM_EXPIRED, status_code=403
        )
    try:
        started = log_in(
            runtime_of(request),
            username=username,
            password=fields.get("password", ""),
            address=client_address(request),
            user_agent=request.headers.get("user-agent"),
        )
    except PlanflowError as error:
        with use_language(PAGE_LANGUAGE):
            message = error.message
        return _login_page(
            request,
            next_path=next_path,
            username=username,
            error=message,
            status_code=status_of(error),
        )
    request.session.clear()
    request.session[SESSION_KEY] = started.key
    return RedirectResponse(next_path, status_code=303)


async def _still_logged_in(request: Request) -> Caller | None:
    """The caller of a live session, its form's CSRF token checked; None when the session is
    already over (expired, ended on another device): there is nothing left to log out of, so
    the browser just goes to the login page rather than to an error page."""
    caller = await run_in_threadpool(optional_caller, request)
    if caller is None:
        return None
    return await csrf_checked(request, caller)


@router.post("/logout")
async def logout(request: Request) -> Response:
    caller = await _still_logged_in(request)
    if caller is not None:
        assert caller.session_id is not None
        await run_in_threadpool(log_out, runtime_of(request), session_id=caller.session_id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/logout/everywhere")
async def logout_everywhere(request: Request) -> Response:
    caller = await _still_logged_in(request)
    if caller is not None:
        await run_in_threadpool(log_out_everywhere, runtime_of(request), user_id=caller.person.id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
