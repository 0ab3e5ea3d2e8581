"""Page sessions (`engine/service/web_sessions.py`): how long they last (absolutely and idle, on
the tests' simulated clock), what ends them (logout, logout everywhere, a new password, a
deactivation, which revokes the API tokens too, in the same transaction), and the cookie that
names one (a random key only; HttpOnly, SameSite=Lax, Secure over HTTPS)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.core.errors import Conflict
from engine.http.app import create_app
from engine.http.security import COOKIE
from engine.service.api_tokens import token_caller
from engine.service.directory import find_any_user
from engine.service.leaving import deactivate_user
from engine.service.passwords import set_password
from engine.service.runtime import Runtime
from tests.http.helpers import DEMO_PASSWORD, bearer, login, login_form_token, set_passwords
from tests.world import setup_world

PAGE = "/plans"


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    setup_world(rt)
    set_passwords(rt, ["chen-school", "liu-factory"])
    return rt


@pytest.fixture
def client(world: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(world)) as test_client:
        yield test_client


def logged_in(client: TestClient) -> bool:
    """Whether the client's session still opens a page (else: sent to the login page)."""
    response = client.get(PAGE, follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"] == f"/login?next={PAGE.replace('/', '%2F')}"
        return False
    assert response.status_code == 200, response.text
    return True


def test_a_session_ends_after_its_lifetime_however_busy(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    login(client, "chen-school")
    hours = world.settings.session_hours
    step = dt.timedelta(minutes=world.settings.session_idle_minutes / 2)
    used = dt.timedelta()
    while used + step < dt.timedelta(hours=hours):
        clock.advance(step)
        used += step
        assert logged_in(client), used
    clock.advance(dt.timedelta(hours=hours) - used)
    assert not logged_in(client)


def test_a_session_ends_when_idle_too_long(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    idle = dt.timedelta(minutes=world.settings.session_idle_minutes)
    login(client, "chen-school")
    clock.advance(idle - dt.timedelta(minutes=1))
    assert logged_in(client)  # used: idle counts from now on
    clock.advance(idle - dt.timedelta(minutes=1))
    assert logged_in(client)
    clock.advance(idle)
    assert not logged_in(client)
    # Logging in again makes a new session; the old cookie stays dead.
    login(client, "chen-school")
    assert logged_in(client)


def test_logout_ends_the_session_for_good(client: TestClient) -> None:
    csrf = login(client, "chen-school")
    cookie = client.cookies.get(COOKIE)
    assert cookie is not None
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert not logged_in(client)
    client.cookies.set(COOKIE, cookie)  # the old cookie, kept by someone, opens nothing
    assert not logged_in(client)


def test_logout_everywhere_ends_every_session_of_the_user(world: Runtime) -> None:
    app = create_app(world)
    with TestClient(app) as phone, TestClient(app) as desk, TestClient(app) as other:
        login(phone, "chen-school")
        csrf = login(desk, "chen-school")
        login(other, "liu-factory")
        response = desk.post(
            "/logout/everywhere", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert not logged_in(desk)
        assert not logged_in(phone)
        assert logged_in(other)  # someone else's session is not theirs to end


def test_a_new_password_ends_the_sessions(world: Runtime, client: TestClient) -> None:
    login(client, "chen-school")
    set_password(world, username="chen-school", password="another-long-password")
    assert not logged_in(client)
    login(client, "chen-school", "another-long-password")
    assert logged_in(client)


def test_deactivation_ends_the_sessions_and_revokes_the_tokens(
    world: Runtime, client: TestClient
) -> None:
    login(client, "chen-school")
    token = bearer(world, "chen-school")["Authorization"].removeprefix("Bearer ")
    deactivate_user(world, username="chen-school")
    assert not logged_in(client)
    assert token_caller(world, token=token) is None


def test_deactivation_is_all_or_nothing(
    world: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the tokens cannot be revoked, the user stays active and logged in: the deactivation,
    the sessions' end and the tokens' revocation are one transaction."""
    login(client, "chen-school")
    token = bearer(world, "chen-school")["Authorization"].removeprefix("Bearer ")

    def failing(*_: object, **__: object) -> None:
        raise Conflict("the database went away", code="tests.gone")

    monkeypatch.setattr("engine.service.leaving.revoke_tokens_of", failing)
    with pytest.raises(Conflict):
        deactivate_user(world, username="chen-school")
    assert logged_in(client)
    assert token_caller(world, token=token) is not None
    with world.database.read() as tx:
        assert find_any_user(tx, "chen-school").active


def cookie_value(set_cookie: str) -> str:
    assert set_cookie.startswith(f"{COOKIE}="), set_cookie
    return set_cookie.split(";", 1)[0].split("=", 1)[1].strip('"')


def test_the_cookie_holds_only_a_random_key(world: Runtime, client: TestClient) -> None:
    token = login_form_token(client)
    response = client.post(
        "/login",
        data={"username": "chen-school", "password": DEMO_PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    set_cookie = response.headers["set-cookie"]
    attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes  # plain HTTP
    # Starlette's signed cookie: base64 of the JSON, then the timestamp and the signature.
    data = cookie_value(set_cookie).split(".", 1)[0]
    content = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
    assert list(content) == ["sid"]
    key = content["sid"]
    assert isinstance(key, str) and len(key) >= 43  # 32 random bytes
    assert "chen" not in key and not key.isdigit()
    with world.database.read() as tx:
        user_id = find_any_user(tx, "chen-school").id
    assert str(user_id) != key
    # The table holds the key's hash, never the key itself.
    import sqlalchemy as sa

    with world.database.read() as tx:
        stored = [tuple(row) for row in tx.execute(sa.text("SELECT key_hash FROM web_session"))]
    assert stored and all(key not in row[0] for row in stored)


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(world: Runtime) -> None:
    world.settings = world.settings.model_copy(update={"trusted_proxies": ["testclient"]})
    headers = {"X-Forwarded-Proto": "https"}
    with TestClient(create_app(world), headers=headers) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        # The client talks plain HTTP to the "proxy", so it keeps the Secure cookie to itself:
        # send it back by hand.
        cookie = cookie_value(form.headers["set-cookie"])
        response = client.post(
            "/login",
            data={"username": "chen-school", "password": DEMO_PASSWORD, "csrf_token": token[1]},
            headers={"Cookie": f"{COOKIE}={cookie}"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        attributes = {p.strip().lower() for p in response.headers["set-cookie"].split(";")[1:]}
        assert {"httponly", "samesite=lax", "secure"} <= attributes


def test_an_expired_session_sends_a_page_to_the_login_page(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    login(client, "chen-school")
    clock.advance(dt.timedelta(hours=world.settings.session_hours))
    response = client.get("/plans?year=2027", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fplans%3Fyear%3D2027"


@pytest.mark.parametrize("path", ["/logout", "/logout/everywhere"])
def test_logging_out_of_an_expired_session_just_lands_on_the_login_page(
    world: Runtime, client: TestClient, clock: SimulatedClock, path: str
) -> None:
    csrf = login(client, "chen-school")
    clock.advance(dt.timedelta(minutes=world.settings.session_idle_minutes + 1))
    response = client.post(path, data={"csrf_token": csrf}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
