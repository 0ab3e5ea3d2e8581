"""The plan routes of the JSON API (create, show, history, list, edit) on SQLite and PostgreSQL.

Each write is checked in the database (the plan's version, its audit rows), not only by its
status; a refused one leaves the plan as it was.
"""

from __future__ import annotations

import copy
from typing import Any

from httpx2 import Response

from engine.service.plan_views import list_plans, plan_history, show_plan
from tests.http.api.conftest import Api, masked_error
from tests.world import live_plan

DRAFTER, OTHER_DRAFTER, REVIEWER = "chen-school", "zhou-hospital", "zhao-zishan"


def plan_file(
    org: str = "zishan-middle-school", year: object = 2027, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "org": org,
        "year": year,
        "title": f"{org} {year}年工会工作计划",
        "template": "annual-work-plan",
        "sections": [{"heading": "指导思想", "body": "以职工为中心。"}],
        "goals": [
            {"key": "members", "title": "发展会员", "target": 100, "unit": "人"},
            {"key": "events", "title": "开展活动", "target": "12", "unit": "次"},
        ],
        "items": [{"month": m, "title": f"{m}月活动"} for m in (1, 2, 3)],
    }
    body.update(changes)
    return body


def create(
    api: Api, body: dict[str, Any] | None = None, user: str = DRAFTER, key: str | None = None
) -> Response:
    headers = api.as_(user) | ({"Idempotency-Key": key} if key else {})
    return api.client.post("/api/plans", json=body or plan_file(), headers=headers)


# ----------------------------------------------------------------------------------- create


def test_create_answers_the_plan_with_location_and_etag(api: Api) -> None:
    response = create(api)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["Location"] == f"/api/plans/{plan['id']}"
    assert response.headers["ETag"] == '"1"'
    assert plan["state"] == "draft" and plan["state_title"] == "草稿"
    assert plan["org"] == {"code": "zishan-middle-school", "name": "梓山中学工会"}
    assert [g["target"] for g in plan["goals"]] == [100, 12]
    assert [g["met"] for g in plan["goals"]] == [None, None]
    assert [i["number"] for i in plan["items"]] == [1, 2, 3]
    assert "submit" in [a["trigger"] for a in plan["actions"]]
    assert plan["may_edit"] is True
    stored = show_plan(api.rt, plan_id=plan["id"], actor=DRAFTER)
    assert stored.plan.version == 1
    assert [e.event.action for e in plan_history(api.rt, plan_id=plan["id"], actor=DRAFTER)] == [
        "create"
    ]


def test_create_names_each_problem_by_its_field(api: Api) -> None:
    body = plan_file()
    body["goals"][1]["target"] = 0  # met by every actual: the plan file refuses it
    body["items"][2] = dict(body["items"][0])  # two items may not share month and title
    response = create(api, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "request.invalid"
    assert {p["field"] for p in error["problems"]} == {"goals[1].target", "items[2].title"}
    assert list_plans(api.rt, actor=DRAFTER) == []


def test_create_refuses_wrong_types_and_unknown_fields(api: Api) -> None:
    body = plan_file(year="2027", colour="red")
    body["goals"][0]["allow_negative"] = 0
    response = create(api, body)
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["error"]["problems"]}
    assert fields == {"year", "colour", "goals[0].allow_negative"}
    assert list_plans(api.rt, actor=DRAFTER) == []


def test_an_organisation_beyond_reach_answers_as_an_unknown_one(api: Api) -> None:
    beyond = create(api, plan_file(org="songshan-hospital"))
    unknown = create(api, plan_file(org="no-such-org"))
    assert beyond.status_code == unknown.status_code == 404
    assert beyond.json()["error"]["code"] == "org.not_found"
    assert masked_error(beyond) == masked_error(unknown)
    assert list_plans(api.rt, actor=OTHER_DRAFTER) == []


def test_create_is_idempotent_and_a_reused_key_with_another_body_conflicts(api: Api) -> None:
    first = create(api, key="create-1")
    again = create(api, key="create-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(list_plans(api.rt, actor=DRAFTER)) == 1
    other = create(api, plan_file(year=2028), key="create-1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency.request_differs"
    assert len(list_plans(api.rt, actor=DRAFTER)) == 1


def test_script_in_titles_is_stored_verbatim_and_answered_as_a_string(api: Api) -> None:
    title = '<script>alert("x")</script> & <b>计划</b>'
    plan = create(api, plan_file(title=title)).json()
    assert plan["title"] == title
    assert show_plan(api.rt, plan_id=plan["id"], actor=DRAFTER).plan.title == title
    shown = api.client.get(f"/api/plans/{plan['id']}", headers=api.as_(DRAFTER))
    assert shown.headers["content-type"].startswith("application/json")
    assert shown.json()["title"] == title


# ----------------------------------------------------------------------------------- read


def test_show_and_history(api: Api) -> None:
    plan_id = live_plan(api.rt)
    shown = api.client.get(f"/api/plans/{plan_id}", headers=api.as_(DRAFTER))
    assert shown.status_code == 200
    plan = shown.json()
    assert plan["state"] == "executing"
    assert shown.headers["ETag"] == f'"{plan["version"]}"'
    assert all(i["reminders"] for i in plan["items"])
    assert {r["status"] for i in plan["items"] for r in i["reminders"]} <= {"planned", "sent"}
    history = api.client.get(f"/api/plans/{plan_id}/history", headers=api.as_(DRAFTER)).json()
    actions = [e["action"] for e in history["items"]]
    assert actions == ["create", "submit", "approve", "approve", "approve"]
    assert history["items"][-1]["version"] == plan["version"]
    assert history["items"][0]["actor_username"] == DRAFTER


def test_unknown_plan_and_another_townships_plan_answer_alike(api: Api) -> None:
    plan_id = live_plan(api.rt)
    for path in (f"/api/plans/{plan_id}", f"/api/plans/{plan_id}/history"):
        other = api.client.get(path, headers=api.as_("sun-songshan"))
        missing = api.client.get(path.replace(str(plan_id), "99999"), headers=api.as_(DRAFTER))
        assert other.status_code == missing.status_code == 404
        assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "plan.not_found"
        assert other.json()["error"]["fields"].keys() == missing.json()["error"]["fields"].keys()


def test_list_filters_and_paging(api: Api) -> None:
    live = live_plan(api.rt)
    draft = create(api, plan_file(year=2028)).json()["id"]
    create(api, plan_file(org="zishan-bike-factory"), user="liu-factory")
    county = api.as_("wang-county")

    def ids(**query: Any) -> list[int]:
        response = api.client.get("/api/plans", params=query, headers=county)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    everything = ids()
    assert len(everything) == 3 and everything == sorted(everything, reverse=True)
    assert ids(year=2028) == [draft]
    assert ids(state="executing") == [live]
    assert ids(state="草稿", org="zishan-middle-school") == [draft]
    assert ids(template="annual-work-plan") == everything
    assert ids(limit=2) == everything[:2]
    assert ids(limit=2, offset=2) == everything[2:]
    page = api.client.get("/api/plans", params={"limit": 1}, headers=county).json()
    assert (page["limit"], page["offset"]) == (1, 0)
    assert page["items"][0]["state_title"]
    # a drafter sees only their own organisation's
    mine = api.client.get("/api/plans", headers=api.as_(DRAFTER)).json()["items"]
    assert {p["id"] for p in mine} == {live, draft}


def test_list_refuses_what_it_cannot_honour(api: Api) -> None:
    headers = api.as_(DRAFTER)
    for query, field in (
        ({"state": "nowhere"}, None),
        ({"template": "nothing"}, None),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"year": "soon"}, "year"),
        ({"colour": "red"}, "colour"),
    ):
        response = api.client.get("/api/plans", params=query, headers=headers)
        assert response.status_code in (404, 422), (query, response.text)
        if field is not None:
            assert response.json()["error"]["field"] == field
    beyond = api.client.get("/api/plans", params={"org": "songshan-town"}, headers=headers)
    unknown = api.client.get("/api/plans", params={"org": "nowhere-town"}, headers=headers)
    assert beyond.status_code == unknown.status_code == 404
    assert beyond.json()["error"]["code"] == unknown.json()["error"]["code"] == "org.not_found"


# ----------------------------------------------------------------------------------- edit


def test_edit_a_draft_with_if_match(api: Api) -> None:
    created = create(api)
    plan_id = created.json()["id"]
    body = plan_file(title="改过的标题")
    body["goals"] = body["goals"][:1]
    headers = {**api.as_(DRAFTER), "If-Match": created.headers["ETag"], "Idempotency-Key": "e1"}
    response = api.client.put(f"/api/plans/{plan_id}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "改过的标题"
    assert response.headers["ETag"] == '"2"'
    again = api.client.put(f"/api/plans/{plan_id}", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["version"] == 2
    view = show_plan(api.rt, plan_id=plan_id, actor=DRAFTER)
    assert (view.plan.version, view.plan.title, len(view.goals)) == (2, "改过的标题", 1)
    # the version seen is stale now; a bare number is taken too
    stale = api.client.put(
        f"/api/plans/{plan_id}",
        json=plan_file(title="又改"),
        headers={**api.as_(DRAFTER), "If-Match": "1"},
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "plan.version_conflict"
    bad = api.client.put(
        f"/api/plans/{plan_id}", json=body, headers={**api.as_(DRAFTER), "If-Match": "v2"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "If-Match"
    assert show_plan(api.rt, plan_id=plan_id, actor=DRAFTER).plan.version == 2


def test_edit_refuses_changing_a_fixed_field_naming_it(api: Api) -> None:
    plan_id = create(api).json()["id"]
    response = api.client.put(
        f"/api/plans/{plan_id}", json=plan_file(year=2030), headers=api.as_(DRAFTER)
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "year"
    assert show_plan(api.rt, plan_id=plan_id, actor=DRAFTER).plan.version == 1


def test_amend_a_live_plans_items(api: Api) -> None:
    plan_id = live_plan(api.rt)
    view = show_plan(api.rt, plan_id=plan_id, actor=DRAFTER)
    body = plan_file(title=view.plan.title)
    body["sections"] = [{"heading": s.heading, "body": s.body} for s in view.sections]
    body["goals"] = [
        {"key": g.key, "title": g.title, "target": g.target, "unit": g.unit} for g in view.goals
    ]
    amended = copy.deepcopy(body)
    amended["items"] = [*body["items"], {"month": 6, "title": "6月新增活动"}]
    response = api.client.put(f"/api/plans/{plan_id}", json=amended, headers=api.as_(DRAFTER))
    assert response.status_code == 200, response.text
    assert [i["title"] for i in response.json()["items"]][-1] == "6月新增活动"
    assert plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)[-1].event.action == "amend"
    locked = copy.deepcopy(amended)
    locked["title"] = "执行中改标题"
    refused = api.client.put(f"/api/plans/{plan_id}", json=locked, headers=api.as_(DRAFTER))
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "title"
    assert show_plan(api.rt, plan_id=plan_id, actor=DRAFTER).plan.version == view.plan.version + 1


def test_text_that_cannot_be_stored_is_named_by_its_field(api: Api) -> None:
    body = plan_file()
    body["items"][1]["detail"] = "a\x00b"
    body["goals"][0]["key"] = body["goals"][1]["key"]
    response = create(api, body)
    assert response.status_code == 422, response.text
    fields = {p["field"] for p in response.json()["error"]["problems"]}
    assert fields == {"items[1].detail", "goals[1].key"}
    assert list_plans(api.rt, actor=DRAFTER) == []
