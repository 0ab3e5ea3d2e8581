"""The headers every answer carries, the Secure cookie over HTTPS (a proxy's word believed only
from a trusted proxy), and the access log's one JSON line per request."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.http.security import COOKIE, CSP
from engine.service.directory import find_any_user
from engine.service.runtime import Runtime
from tests.http.helpers import login, set_passwords
from tests.world import setup_world

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def test_pages_and_api_carry_the_security_headers(sqlite_rt: Runtime) -> None:
    with TestClient(create_app(sqlite_rt)) as client:
        for path in ("/login", "/api/nothing-here", "/healthz", "/static/planflow.css"):
            headers = client.get(path).headers
            assert headers["content-security-policy"] == STRICT_CSP == CSP, path
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "same-origin"
            assert "strict-transport-security" not in headers  # plain HTTP
        assert client.get("/login").headers["cache-control"] == "no-store"
        assert "no-store" not in client.get("/static/planflow.css").headers.get("cache-control", "")


def test_the_docs_page_has_the_strict_csp_too(sqlite_rt: Runtime) -> None:
    with TestClient(create_app(sqlite_rt)) as client:
        for path in ("/docs", "/openapi.json"):
            assert client.get(path).headers["content-security-policy"] == STRICT_CSP, path


def session_cookie(client: TestClient) -> str:
    response = client.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    return cookie.lower()


def test_the_cookie_is_secure_over_https(sqlite_rt: Runtime) -> None:
    with TestClient(create_app(sqlite_rt), base_url="https://testserver") as client:
        cookie = session_cookie(client)
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_the_cookie_is_not_secure_over_plain_http(sqlite_rt: Runtime) -> None:
    with TestClient(create_app(sqlite_rt)) as client:
        assert "secure" not in session_cookie(client)


def test_a_forwarded_proto_is_ignored_without_a_trusted_proxy(sqlite_rt: Runtime) -> None:
    with TestClient(create_app(sqlite_rt), headers={"X-Forwarded-Proto": "https"}) as client:
        assert "secure" not in session_cookie(client)


def test_a_trusted_proxy_says_https(sqlite_rt: Runtime) -> None:
    # The TestClient's peer address is "testclient".
    sqlite_rt.settings = sqlite_rt.settings.model_copy(update={"trusted_proxies": ["testclient"]})
    with TestClient(create_app(sqlite_rt), headers={"X-Forwarded-Proto": "https"}) as client:
        assert "; secure" in session_cookie(client)


def test_one_json_line_per_request_with_the_user_and_no_query(
    sqlite_rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    setup_world(sqlite_rt)
    set_passwords(sqlite_rt, ["chen-school"])
    with sqlite_rt.database.read() as tx:
        user_id = find_any_user(tx, "chen-school").id
    with TestClient(create_app(sqlite_rt)) as client:
        login(client, "chen-school")
        caplog.clear()
        with caplog.at_level("INFO", logger="planflow.http.access"):
            client.get("/login?next=/plans")
            client.get("/login?token=secret-value")
            client.get("/api/nothing-here")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("access")]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/login", 200),
        ("GET", "/login", 422),  # an unknown parameter, named on the page
        ("GET", "/api/nothing-here", 404),
    ]
    assert [line["user"] for line in lines] == [user_id, user_id, None]
    assert all(isinstance(line["ms"], float) and line["ms"] >= 0 for line in lines)
    assert all("secret-value" not in record.getMessage() for record in caplog.records)
