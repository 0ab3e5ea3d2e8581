"""What every response and request goes through: the session cookie (Starlette's signed cookie
holding only the session's random key), security headers, the body size limit and the access log.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

from engine.service.instance import cookie_secret
from engine.service.runtime import Runtime

COOKIE = "planflow_session"


def install(app: FastAPI, rt: Runtime) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=cookie_secret(rt),
        session_cookie=COOKIE,
        max_age=int(rt.settings.session_hours * 3600),
        same_site="lax",
        https_only=False,
    )


def client_address(request: Request) -> str:
    """The address a request came from (a trusted proxy's `X-Forwarded-For` already applied)."""
    return request.client.host if request.client is not None else "unknown"
