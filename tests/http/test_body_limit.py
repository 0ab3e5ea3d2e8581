"""The body limit: a declared larger body is refused 413 unread; a chunked one as soon as it
passes the limit, without reading the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from engine.http.app import create_app
from engine.http.security import Edge
from engine.service.runtime import Runtime

LIMIT = 4096


@pytest.fixture
def client(sqlite_rt: Runtime) -> Iterator[TestClient]:
    sqlite_rt.settings = sqlite_rt.settings.model_copy(update={"max_body_bytes": LIMIT})
    with TestClient(create_app(sqlite_rt)) as test_client:
        yield test_client


def chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def test_a_declared_larger_body_is_refused_in_json_under_the_api(client: TestClient) -> None:
    response = client.post("/api/plans", content=b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 413
    body = response.json()
    assert "request.too_large" in str(body)
    assert "larger than the 4096 bytes" in str(body)


def test_a_larger_chunked_body_is_refused_on_a_page_in_chinese(client: TestClient) -> None:
    response = client.post(
        "/login",
        content=chunks(LIMIT * 3),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "4096" in response.text and "字节" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_a_body_within_the_limit_goes_through(client: TestClient) -> None:
    response = client.post(
        "/login",
        content=chunks(LIMIT - 10),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422  # read whole: a field "xxx…" it does not know


def run_edge(messages: list[Message]) -> tuple[list[Message], int]:
    """Run Edge over an app that reads the body, with a client sending `messages`; returns
    what went out and how many messages the edge took from the client."""
    taken = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return messages[taken - 1]

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("client went away")  # as Starlette's ClientDisconnect
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/plans",
        "headers": [],
        "scheme": "http",
        "query_string": b"",
        "server": ("testserver", 80),
    }
    asyncio.run(Edge(app, max_body_bytes=LIMIT)(scope, receive, send))
    return sent, taken


def test_a_chunked_body_is_not_read_past_the_limit() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(100)
    ]
    sent, taken = run_edge(messages)
    assert taken == 5  # 5000 bytes > 4096: the 95 chunks after are never asked for
    assert sent[0]["status"] == 413
    assert all(message.get("status") != 200 for message in sent)  # the app's answer dropped
