"""What every request and response goes through at the HTTP edge, outermost first:

- the trusted proxies' `X-Forwarded-Proto` and `X-Forwarded-For` (`PLANFLOW_TRUSTED_PROXIES`),
  believed only from those addresses: the scheme decides the Secure cookie, the address counts
  in the login throttle;
- `Edge`: the body size limit (`PLANFLOW_MAX_BODY_BYTES`: 413 before a declared larger body is
  read, and as soon as a chunked one passes the limit), the security headers (a strict CSP with
  no inline script or style, no framing, no sniffing), the Secure flag on the session cookie
  when the request came over HTTPS, and the access log: one JSON line per request;
- the session cookie (Starlette's signed cookie, holding only the session's random key and,
  before a login, the login form's CSRF token).
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from engine.core.errors import PlanflowError
from engine.core.i18n import N_, use_language
from engine.http.errors import body_of, is_api
from engine.service.instance import cookie_secret
from engine.service.runtime import Runtime

COOKIE = "planflow_session"
ACCESS_LOG = logging.getLogger("planflow.http.access")
TOO_LARGE = N_("the request is larger than the {limit} bytes this server accepts")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")
NO_STORE = (b"cache-control", b"no-store")  # pages and answers are someone's; static files not


def client_address(request: Request) -> str:
    """The address a request came from (a trusted proxy's `X-Forwarded-For` already applied)."""
    return request.client.host if request.client is not None else "unknown"


def user_seen(request: Request, user_id: int) -> None:
    """Note who the request was authenticated as, for the access log."""
    request.state.user_id = user_id


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_insecure_session_cookie(value: bytes) -> bool:
    return value.startswith(COOKIE.encode() + b"=") and b"; secure" not in value.lower()


class Edge:
    """The body limit, the security headers, the Secure cookie and the access log (pure ASGI, so
    that a body is counted as it arrives, never read whole first)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})
        https = scope.get("scheme") == "https"
        path: str = scope["path"]
        status = 500
        answered = False  # a 413 went out: whatever the app still sends is dropped
        response_started = False
        received = 0

        async def send_out(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = self._headers(message.get("headers", []), path, https)
            await send(message)

        async def send_from_app(message: Message) -> None:
            if not answered:
                await send_out(message)

        async def counted_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    if not response_started:
                        answered = True
                        await self._too_large(scope, send_out)
                    return {"type": "http.disconnect"}
            return message

        try:
            declared = _declared_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                answered = True
                await self._too_large(scope, send_out)
            else:
                try:
                    await self.app(scope, counted_receive, send_from_app)
                except Exception:
                    if not answered:
                        raise  # the app's own failure (the 500 the server answers)
        finally:
            user_id = scope["state"].get("user_id")
            ACCESS_LOG.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "user": user_id,
                    },
                    ensure_ascii=False,
                )
            )

    def _headers(
        self, headers: list[tuple[bytes, bytes]], path: str, https: bool
    ) -> list[tuple[bytes, bytes]]:
        ours = {name for name, _ in HEADERS} | {b"content-security-policy"}
        kept = []
        has_cache_control = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in ours:
                continue
            if lowered == b"cache-control":
                has_cache_control = True
            if https and lowered == b"set-cookie" and _is_insecure_session_cookie(value):
                value += b"; secure"
            kept.append((name, value))
        kept.append((b"content-security-policy", CSP.encode()))  # /docs too (engine.http.docs)
        kept.extend(HEADERS)
        if https:
            kept.append(HSTS)
        if not has_cache_control and not path.startswith("/static/"):
            kept.append(NO_STORE)
        return kept

    async def _too_large(self, scope: Scope, send: Send) -> None:
        error = PlanflowError(TOO_LARGE, code="request.too_large", limit=self.max_body_bytes)
        response = _too_large_answer(Request(scope), error)

        async def nothing_more() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing_more, send)


def _too_large_answer(request: Request, error: PlanflowError) -> Response:
    if is_api(request):
        return JSONResponse(body_of(error), status_code=413)
    # The pages' rendering imports the auth dependencies, which import this module.
    from engine.http.pages.errors import PAGE_LANGUAGE
    from engine.http.rendering import render

    with use_language(PAGE_LANGUAGE):
        message = error.message
    return render(request, "error.html", {"message": message}, status_code=413)


def install(app: FastAPI, rt: Runtime) -> None:
    """Put the edge around `app`: the proxies' headers, `Edge`, the session cookie."""
    settings = rt.settings
    app.add_middleware(
        SessionMiddleware,
        secret_key=cookie_secret(rt),
        session_cookie=COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=False,  # Edge marks it Secure on every answer to an HTTPS request
    )
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
