"""How a page answers a `PlanflowError`: the login page when the caller is not logged in, else
the error page with the message in Chinese and the status the API would give."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from engine.core.errors import NotAuthenticated, PlanflowError
from engine.core.i18n import Language, use_language
from engine.http.rendering import render

PAGE_LANGUAGE: Language = "zh_CN"  # pages are written in Chinese; their messages follow


def page_answer(request: Request, error: PlanflowError, status: int) -> Response:
    if isinstance(error, NotAuthenticated) and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    with use_language(PAGE_LANGUAGE):
        message = error.message
    return render(request, "error.html", {"message": message}, status_code=status)
