"""The organisation routes of the API on both databases: an administrator's realm, and 404 for
anyone else and for anything outside it, with nothing written on a refusal."""

from __future__ import annotations

from engine.demo.world import ADMIN
from engine.service import directory
from tests.http.api.conftest import Api

TOWN_ADMIN = "admin-songshan"  # administers songshan-town and below, nothing of zishan-town


def org_codes(api: Api) -> list[str]:
    return [org.code for org in directory.list_orgs(api.rt)]


def make_town_admin(api: Api) -> None:
    directory.create_user(
        api.rt, username=TOWN_ADMIN, name="松山管理员", org="songshan-town", roles=["admin"]
    )


def test_the_county_administrator_lists_the_whole_tree_with_parent_codes(api: Api) -> None:
    response = api.client.get("/api/orgs", headers=api.as_(ADMIN))
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"code": "county", "name": "县总工会", "parent": None},
        {"code": "zishan-town", "name": "梓山镇工会", "parent": "county"},
        {"code": "songshan-town", "name": "松山镇工会", "parent": "county"},
        {"code": "zishan-middle-school", "name": "梓山中学工会", "parent": "zishan-town"},
        {"code": "zishan-bike-factory", "name": "梓山自行车厂工会", "parent": "zishan-town"},
        {"code": "songshan-hospital", "name": "松山卫生院工会", "parent": "songshan-town"},
        {
            "code": "songshan-agri-college",
            "name": "松山农业职业技术学院工会",
            "parent": "songshan-town",
        },
    ]
    one = api.client.get("/api/orgs/zishan-bike-factory", headers=api.as_(ADMIN))
    assert one.json() == {
        "code": "zishan-bike-factory",
        "name": "梓山自行车厂工会",
        "parent": "zishan-town",
    }


def test_a_township_administrator_sees_only_their_subtree(api: Api) -> None:
    make_town_admin(api)
    listed = api.client.get("/api/orgs", headers=api.as_(TOWN_ADMIN)).json()
    assert [o["code"] for o in listed] == [
        "songshan-town",
        "songshan-hospital",
        "songshan-agri-college",
    ]
    assert listed[0]["parent"] == "county"
    outside = api.client.get("/api/orgs/zishan-town", headers=api.as_(TOWN_ADMIN))
    missing = api.client.get("/api/orgs/no-such-town", headers=api.as_(TOWN_ADMIN))
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["error"]["code"] == "org.not_found"
    assert outside.json() == _renamed(missing.json(), "no-such-town", "zishan-town")


def _renamed(body: object, old: str, new: str) -> object:
    import json

    return json.loads(json.dumps(body, ensure_ascii=False).replace(old, new))


def test_an_administrator_creates_an_organisation_in_their_realm(api: Api) -> None:
    response = api.client.post(
        "/api/orgs",
        json={"code": "zishan-clinic", "name": "梓山诊所工会", "parent": "zishan-town"},
        headers=api.as_(ADMIN),
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "code": "zishan-clinic",
        "name": "梓山诊所工会",
        "parent": "zishan-town",
    }
    [org] = [o for o in directory.list_orgs(api.rt) if o.code == "zishan-clinic"]
    assert org.name == "梓山诊所工会"
    again = api.client.get("/api/orgs/zishan-clinic", headers=api.as_(ADMIN))
    assert again.json()["parent"] == "zishan-town"


def test_refused_creations_write_nothing(api: Api) -> None:
    make_town_admin(api)
    before = org_codes(api)
    cases = [
        (ADMIN, {"code": "county", "name": "x", "parent": "county"}, 409, "org.exists"),
        (ADMIN, {"code": "Bad Code", "name": "x", "parent": "county"}, 422, "request.invalid"),
        (ADMIN, {"code": "new-one", "name": "x", "parent": "nowhere"}, 404, "org.not_found"),
        (
            ADMIN,
            {"code": "new-one", "name": "x", "parent": "county", "extra": 1},
            422,
            "request.invalid",
        ),
        (ADMIN, {"code": "new-one", "name": 5, "parent": "county"}, 422, "request.invalid"),
        (
            TOWN_ADMIN,
            {"code": "new-one", "name": "x", "parent": "zishan-town"},
            404,
            "org.not_found",
        ),
        (
            "zhao-zishan",
            {"code": "new-one", "name": "x", "parent": "zishan-town"},
            404,
            "admin.only",
        ),
    ]
    for user, body, status, code in cases:
        response = api.client.post("/api/orgs", json=body, headers=api.as_(user))
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    no_token = api.client.post(
        "/api/orgs", json={"code": "new-one", "name": "x", "parent": "county"}
    )
    assert no_token.status_code == 401
    assert org_codes(api) == before


def test_a_non_administrator_gets_404_on_every_organisation_route(api: Api) -> None:
    for path in ("/api/orgs", "/api/orgs/zishan-town", "/api/orgs/no-such-org"):
        response = api.client.get(path, headers=api.as_("zhao-zishan"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "admin.only"


def test_undeclared_query_parameters_are_refused(api: Api) -> None:
    response = api.client.get("/api/orgs", params={"parent": "county"}, headers=api.as_(ADMIN))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "parent"


def test_a_body_that_is_not_json_is_refused_as_such(api: Api) -> None:
    before = org_codes(api)
    for content in (b"{not json", b"\x1ee\xff-", b'{"code": "x"'):
        response = api.client.post(
            "/api/orgs",
            content=content,
            headers={**api.as_(ADMIN), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (content, response.text)
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("request.invalid", "body"), content
        assert error["problems"] == [{"field": "body", "message": "the body is not valid JSON"}]
    assert org_codes(api) == before
