"""The login throttle (`engine/service/web_sessions.log_in`, `engine/store/login_attempts`):
failed logins counted per username (since its last success) and per address over
`login_window_minutes`; an unknown user and a wrong password read the same; a proxy's
`X-Forwarded-For` believed only from a trusted proxy; old attempts pruned as logins come."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.http.app import create_app
from engine.service.runtime import Runtime
from engine.store.statements import table_of
from engine.store.tables import LoginAttempt
from tests.http.helpers import DEMO_PASSWORD, login_form_token, set_passwords
from tests.world import setup_world

WRONG = "用户名或密码错误"
THROTTLED = "登录失败次数过多，请 {minutes} 分钟后再试"
_ATTEMPT = table_of(LoginAttempt)


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    setup_world(rt)
    set_passwords(rt)
    return rt


def client_of(rt: Runtime, **settings: object) -> TestClient:
    if settings:
        rt.settings = rt.settings.model_copy(update=settings)
    return TestClient(create_app(rt))


@pytest.fixture
def client(world: Runtime) -> Iterator[TestClient]:
    with client_of(world) as test_client:
        yield test_client


def attempt(
    client: TestClient, username: str, password: str, *, forwarded_for: str | None = None
) -> httpx.Response:
    """One login through the form (a fresh form each time, as a browser would)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = login_form_token(client)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    if response.status_code == 303:  # logged in: log out again, the next try starts afresh
        client.cookies.clear()
    return response


def fail(client: TestClient, username: str, times: int, **kwargs: str) -> None:
    for _ in range(times):
        response = attempt(client, username, "not-the-password", **kwargs)
        assert response.status_code == 401, response.text
        assert WRONG in response.text


def attempts(rt: Runtime) -> list[tuple[str, str, bool]]:
    with rt.database.read() as tx:
        rows = tx.execute(
            sa.select(_ATTEMPT.c.username, _ATTEMPT.c.address, _ATTEMPT.c.succeeded).order_by(
                _ATTEMPT.c.id
            )
        )
        return [(row[0], row[1], bool(row[2])) for row in rows]


def test_a_user_is_refused_after_the_failures_per_user_until_the_window_passes(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    limit = world.settings.login_failures_per_user
    fail(client, "chen-school", limit)
    refused = attempt(client, "chen-school", DEMO_PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert THROTTLED.format(minutes=15) in refused.text
    assert attempt(client, "liu-factory", DEMO_PASSWORD).status_code == 303  # others may
    clock.advance(dt.timedelta(minutes=world.settings.login_window_minutes, seconds=1))
    assert attempt(client, "chen-school", DEMO_PASSWORD).status_code == 303


def test_an_address_is_refused_after_its_failures_whoever_it_tries(
    world: Runtime, clock: SimulatedClock
) -> None:
    with client_of(world, login_failures_per_address=4) as client:
        for username in ("nobody-1", "nobody-2", "chen-school", "nobody-3"):
            fail(client, username, 1)
        refused = attempt(client, "liu-factory", DEMO_PASSWORD)
        assert refused.status_code == 429
        assert THROTTLED.format(minutes=15) in refused.text
        clock.advance(dt.timedelta(minutes=16))
        assert attempt(client, "liu-factory", DEMO_PASSWORD).status_code == 303


def test_an_unknown_user_and_a_wrong_password_read_the_same(client: TestClient) -> None:
    """Neither the page nor the throttle tells whether a username exists."""
    unknown = attempt(client, "no-such-user", "not-the-password")
    wrong = attempt(client, "chen-school", "not-the-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text.replace("no-such-user", "NAME") == wrong.text.replace("chen-school", "NAME")
    limit = 5
    fail(client, "no-such-user", limit - 1)
    fail(client, "chen-school", limit - 1)
    unknown = attempt(client, "no-such-user", "not-the-password")
    wrong = attempt(client, "chen-school", "not-the-password")
    assert unknown.status_code == wrong.status_code == 429
    assert unknown.text.replace("no-such-user", "NAME") == wrong.text.replace("chen-school", "NAME")


def test_a_deactivated_user_reads_as_a_wrong_password(world: Runtime, client: TestClient) -> None:
    from engine.service.leaving import deactivate_user

    deactivate_user(world, username="chen-school")
    response = attempt(client, "chen-school", DEMO_PASSWORD)
    assert response.status_code == 401
    assert WRONG in response.text


def test_a_users_failures_count_since_their_last_success(
    world: Runtime, client: TestClient
) -> None:
    """Someone who mistypes now and then, but gets in, is never locked out by it."""
    limit = world.settings.login_failures_per_user
    for _ in range(3):
        fail(client, "chen-school", limit - 1)
        assert attempt(client, "chen-school", DEMO_PASSWORD).status_code == 303
    fail(client, "chen-school", limit)
    assert attempt(client, "chen-school", DEMO_PASSWORD).status_code == 429


def test_forwarded_for_is_ignored_without_a_trusted_proxy(world: Runtime) -> None:
    with client_of(world, login_failures_per_address=2) as client:
        fail(client, "nobody-1", 1, forwarded_for="198.51.100.1")
        fail(client, "nobody-2", 1, forwarded_for="198.51.100.2")
        # A client cannot leave the address limit by claiming another address.
        refused = attempt(client, "chen-school", DEMO_PASSWORD, forwarded_for="198.51.100.3")
        assert refused.status_code == 429
    assert {address for _, address, _ in attempts(world)} == {"testclient"}


def test_a_trusted_proxy_names_the_address(world: Runtime) -> None:
    # The TestClient's peer address is "testclient".
    with client_of(world, login_failures_per_address=2, trusted_proxies=["testclient"]) as client:
        fail(client, "nobody-1", 2, forwarded_for="198.51.100.1")
        assert (
            attempt(client, "chen-school", DEMO_PASSWORD, forwarded_for="198.51.100.1").status_code
            == 429
        )
        # Another browser behind the same proxy is not throttled for the first one's failures.
        assert (
            attempt(client, "chen-school", DEMO_PASSWORD, forwarded_for="198.51.100.2").status_code
            == 303
        )
    assert attempts(world) == [
        ("nobody-1", "198.51.100.1", False),
        ("nobody-1", "198.51.100.1", False),
        ("chen-school", "198.51.100.2", True),
    ]


def test_attempts_older_than_the_window_are_pruned_at_the_next_login(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    fail(client, "nobody-1", 2)
    assert attempt(client, "chen-school", DEMO_PASSWORD).status_code == 303
    clock.advance(dt.timedelta(minutes=10))
    fail(client, "nobody-2", 1)
    clock.advance(dt.timedelta(minutes=6))  # the first three are now older than the window
    assert len(attempts(world)) == 4
    fail(client, "nobody-3", 1)
    assert attempts(world) == [
        ("nobody-2", "testclient", False),
        ("nobody-3", "testclient", False),
    ]


def test_the_refusal_says_how_long_until_a_try_is_allowed(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    fail(client, "chen-school", 1)
    clock.advance(dt.timedelta(minutes=4))
    fail(client, "chen-school", world.settings.login_failures_per_user - 1)
    clock.advance(dt.timedelta(minutes=6, seconds=30))
    # The first failure leaves the 15-minute window in 4.5 minutes: "5 minutes", not 15.
    refused = attempt(client, "chen-school", DEMO_PASSWORD)
    assert refused.status_code == 429
    assert THROTTLED.format(minutes=5) in refused.text
    clock.advance(dt.timedelta(minutes=4, seconds=31))
    assert attempt(client, "chen-school", DEMO_PASSWORD).status_code == 303
