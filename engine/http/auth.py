"""Who a request comes from, and the CSRF check of page forms.

- API routes depend on `api_caller`: an `Authorization: Bearer pf_…` token, nothing else.
- Page routes depend on `page_caller`: the session whose key the signed cookie holds; with none,
  `NotAuthenticated` (the pages' error handler sends the browser to the login page).
- Page routes that write depend on `csrf_checked` as well: the session's synchronizer token must
  come back in the form's `csrf_token` field or the `X-CSRF-Token` header (htmx), and a browser
  that says where the request came from (`Origin`, `Sec-Fetch-Site`) must say this site.

No route reads a user's name from the request: the service's `actor` is `caller.username`.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from engine.core.errors import NotAuthenticated, PermissionDenied
from engine.core.i18n import N_
from engine.http.security import user_seen
from engine.service.api_tokens import token_caller
from engine.service.callers import Caller
from engine.service.runtime import Runtime
from engine.service.web_sessions import session_caller

SESSION_KEY = "sid"  # in the signed cookie: the session's random key, nothing else
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
NEEDS_TOKEN = N_("this API needs a bearer token (Authorization: Bearer …)")
LOGIN_NEEDED = N_("please log in")
FORGED = N_("the form has expired or did not come from this site; reload the page and try again")


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def api_caller(request: Request) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    caller = None
    if scheme.lower() == "bearer" and token.strip():
        caller = token_caller(runtime_of(request), token=token.strip())
    if caller is None:
        raise NotAuthenticated(NEEDS_TOKEN, code="auth.token_required")
    user_seen(request, caller.person.id)
    return caller


def page_caller(request: Request) -> Caller:
    key = request.session.get(SESSION_KEY)
    caller = session_caller(runtime_of(request), key=key) if isinstance(key, str) else None
    if caller is None:
        request.session.pop(SESSION_KEY, None)
        raise NotAuthenticated(LOGIN_NEEDED, code="auth.login_required")
    user_seen(request, caller.person.id)
    return caller


def same_site(request: Request) -> bool:
    """Whether the browser says the request came from this site. Browsers send `Sec-Fetch-Site`
    (all current ones) or at least `Origin` on a POST; a client that sends neither is not a
    browser a page could have tricked, and is judged by the token alone."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def max_form_fields(request: Request) -> int:
    """The form parser's cap on fields: never below the body limit's own (a field takes at least
    two bytes, `a=`), so that `max_body_bytes` is the one bound on a form, not Starlette's 1000,
    which the editor of a plan at its limits (50 sections, 100 goals, 200 items) already passes."""
    return max(1000, runtime_of(request).settings.max_body_bytes // 2)


async def posted_form(request: Request) -> FormData:
    """The request's form, parsed once with `max_form_fields`: Starlette keeps the first parse,
    so every later `request.form()` of the request (the pages') returns this one."""
    return await request.form(max_fields=max_form_fields(request))


async def csrf_checked(request: Request, caller: Annotated[Caller, Depends(page_caller)]) -> Caller:
    sent = request.headers.get(CSRF_HEADER)
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        # Read even when the header carries the token, so that the page reads this parse.
        value = (await posted_form(request)).get(CSRF_FIELD)
        if sent is None:
            sent = value if isinstance(value, str) else None
    expected = caller.csrf_token or ""
    if not (sent and expected and secrets.compare_digest(sent, expected) and same_site(request)):
        raise PermissionDenied(FORGED, code="auth.csrf")
    return caller


ApiCaller = Annotated[Caller, Depends(api_caller)]
PageCaller = Annotated[Caller, Depends(page_caller)]
FormCaller = Annotated[Caller, Depends(csrf_checked)]  # a page route that writes
