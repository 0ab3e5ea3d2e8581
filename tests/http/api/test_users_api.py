"""The user routes of the API on both databases: an administrator's users (list, show, create,
roles, deactivate, password reset), `/api/me` for anyone, 404 beyond the realm, nothing written
on a refusal, and a password never echoed."""

from __future__ import annotations

from typing import Any

from engine.demo.world import ADMIN
from engine.service import directory
from engine.service.directory import find_any_user
from engine.service.passwords import password_matches
from engine.service.runtime import Runtime
from tests.http.api.conftest import Api
from tests.service.test_leaving import at_county_approval, open_task

TOWN_ADMIN = "admin-songshan"


def make_town_admin(api: Api) -> None:
    directory.create_user(
        api.rt, username=TOWN_ADMIN, name="松山管理员", org="songshan-town", roles=["admin"]
    )


def users(rt: Runtime) -> dict[str, tuple[bool, tuple[str, ...]]]:
    return {e.person.username: (e.person.active, e.roles) for e in directory.list_users(rt)}


def matches(rt: Runtime, username: str, password: str) -> bool:
    with rt.database.read() as tx:
        return password_matches(tx, user_id=find_any_user(tx, username).id, password=password)


def test_me_tells_anyone_who_they_are(api: Api) -> None:
    response = api.client.get("/api/me", headers=api.as_("zhao-zishan"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "zhao-zishan",
        "name": "赵志强",
        "org": "zishan-town",
        "org_name": "梓山镇工会",
        "email": "zhao-zishan@example.org",
        "active": True,
        "roles": ["township_reviewer", "drafter"],
    }
    assert api.client.get("/api/me").status_code == 401


def test_the_administrator_lists_and_shows_the_users_of_their_realm(api: Api) -> None:
    make_town_admin(api)
    everyone = api.client.get("/api/users", headers=api.as_(ADMIN)).json()
    assert len(everyone) == 10
    town = api.client.get("/api/users", headers=api.as_(TOWN_ADMIN)).json()
    assert [u["username"] for u in town] == [
        "sun-songshan",
        "zhou-hospital",
        "wu-college",
        TOWN_ADMIN,
    ]
    shown = api.client.get("/api/users/wu-college", headers=api.as_(TOWN_ADMIN))
    assert shown.json()["org"] == "songshan-agri-college"
    outside = api.client.get("/api/users/chen-school", headers=api.as_(TOWN_ADMIN))
    missing = api.client.get("/api/users/nobody", headers=api.as_(TOWN_ADMIN))
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["error"]["message"] == "no user 'chen-school'"
    assert missing.json()["error"]["message"] == "no user 'nobody'"
    assert outside.json()["error"]["code"] == missing.json()["error"]["code"] == "user.not_found"


def test_creating_a_user_with_an_initial_password_never_echoes_it(api: Api) -> None:
    body = {
        "username": "qian-school",
        "name": "钱老师",
        "org": "zishan-middle-school",
        "roles": ["drafter"],
        "password": "correct horse battery",
    }
    response = api.client.post("/api/users", json=body, headers=api.as_(ADMIN))
    assert response.status_code == 201, response.text
    assert "password" not in response.json() and "correct horse" not in response.text
    assert response.json()["roles"] == ["drafter"]
    assert users(api.rt)["qian-school"] == (True, ("drafter",))
    assert matches(api.rt, "qian-school", "correct horse battery")
    plain = {"username": "sun-2", "name": "孙二", "org": "songshan-town"}
    made = api.client.post("/api/users", json=plain, headers=api.as_(ADMIN))
    assert made.status_code == 201 and made.json()["roles"] == []
    assert not matches(api.rt, "sun-2", "anything-at-all")


def test_refused_user_creations_write_nothing(api: Api) -> None:
    make_town_admin(api)
    before = users(api.rt)
    ok: dict[str, Any] = {"username": "new-user", "name": "新人", "org": "zishan-town"}
    cases = [
        (ADMIN, {**ok, "username": "chen-school"}, 409, "user.exists"),
        (ADMIN, {**ok, "password": "pw-1234"}, 422, "request.invalid"),
        (ADMIN, {**ok, "password": "x" * 129}, 422, "request.invalid"),
        (ADMIN, {**ok, "roles": ["no_such_role"]}, 400, "role.unknown"),
        (ADMIN, {**ok, "org": "nowhere"}, 404, "org.not_found"),
        (ADMIN, {**ok, "active": False}, 422, "request.invalid"),
        (ADMIN, {**ok, "username": "Not Valid"}, 422, "request.invalid"),
        (TOWN_ADMIN, ok, 404, "org.not_found"),
        ("zhao-zishan", ok, 404, "admin.only"),
    ]
    for user, body, status, code in cases:
        response = api.client.post("/api/users", json=body, headers=api.as_(user))
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
        assert "pw-1234" not in response.text and "x" * 129 not in response.text
    assert users(api.rt) == before


def test_granting_and_revoking_roles(api: Api) -> None:
    admin = api.as_(ADMIN)
    granted = api.client.post(
        "/api/users/chen-school/roles", json={"role": "township_reviewer"}, headers=admin
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == ["drafter", "township_reviewer"]
    again = api.client.post(
        "/api/users/chen-school/roles", json={"role": "township_reviewer"}, headers=admin
    )
    assert again.status_code == 409
    revoked = api.client.delete("/api/users/chen-school/roles/drafter", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["roles"] == ["township_reviewer"]
    assert users(api.rt)["chen-school"] == (True, ("township_reviewer",))


def test_role_changes_beyond_the_realm_are_404_and_write_nothing(api: Api) -> None:
    make_town_admin(api)
    before = users(api.rt)
    town = api.as_(TOWN_ADMIN)
    grant = api.client.post("/api/users/chen-school/roles", json={"role": "drafter"}, headers=town)
    revoke = api.client.delete("/api/users/chen-school/roles/drafter", headers=town)
    deactivate = api.client.post("/api/users/chen-school/deactivate", headers=town)
    reset = api.client.post(
        "/api/users/chen-school/password", json={"password": "a-new-password"}, headers=town
    )
    for response in (grant, revoke, deactivate, reset):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "user.not_found"
    assert users(api.rt) == before


def test_deactivating_ends_the_users_tokens(api: Api) -> None:
    theirs = api.as_("zhao-zishan")
    assert api.client.get("/api/me", headers=theirs).status_code == 200
    response = api.client.post("/api/users/zhao-zishan/deactivate", headers=api.as_(ADMIN))
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert users(api.rt)["zhao-zishan"][0] is False
    assert api.client.get("/api/me", headers=theirs).status_code == 401
    twice = api.client.post("/api/users/zhao-zishan/deactivate", headers=api.as_(ADMIN))
    assert twice.status_code == 422
    myself = api.client.post(f"/api/users/{ADMIN}/deactivate", headers=api.as_(ADMIN))
    assert (myself.status_code, myself.json()["error"]["code"]) == (422, "admin.not_yourself")
    assert users(api.rt)[ADMIN][0] is True


def test_resetting_a_password(api: Api) -> None:
    response = api.client.post(
        "/api/users/wu-college/password",
        json={"password": "a-brand-new-one"},
        headers=api.as_(ADMIN),
    )
    assert response.status_code == 204 and response.content == b""
    assert matches(api.rt, "wu-college", "a-brand-new-one")
    too_short = api.client.post(
        "/api/users/wu-college/password", json={"password": "1234567"}, headers=api.as_(ADMIN)
    )
    assert too_short.status_code == 422 and "1234567" not in too_short.text
    assert matches(api.rt, "wu-college", "a-brand-new-one")
    not_admin = api.client.post(
        "/api/users/wu-college/password",
        json={"password": "yet-another-one"},
        headers=api.as_("sun-songshan"),
    )
    assert (not_admin.status_code, not_admin.json()["error"]["code"]) == (404, "admin.only")
    assert matches(api.rt, "wu-college", "a-brand-new-one")


def test_deactivating_takes_them_off_open_and_future_tasks(api: Api) -> None:
    waiting = at_county_approval(api.rt)
    response = api.client.post("/api/users/li-county/deactivate", headers=api.as_(ADMIN))
    assert response.status_code == 200, response.text
    assert open_task(api.rt, waiting)[2] == [("wang-county", None)]  # handed over, not waiting
    later = at_county_approval(api.rt, "zishan-bike-factory")
    assert open_task(api.rt, later)[2] == [("wang-county", None)]  # no new task for them
