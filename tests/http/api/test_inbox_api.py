"""`GET /api/inbox` on SQLite and PostgreSQL: overdue first, countersign progress, filters (each
honoured or refused naming it), returned plans with their reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.core.clock import SimulatedClock
from engine.service.actions import act
from engine.service.plans import create_plan
from tests.http.api.conftest import Api, masked_error
from tests.world import small_plan

REVIEWER = "zhao-zishan"


def submitted(api: Api, org: str = "zishan-middle-school", year: int = 2027) -> int:
    drafter = {"zishan-middle-school": "chen-school", "zishan-bike-factory": "liu-factory"}[org]
    plan_id = create_plan(api.rt, spec=small_plan(org, year=year), actor=drafter).plan_id
    act(api.rt, plan_id=plan_id, trigger="submit", actor=drafter)
    return plan_id


def inbox(api: Api, user: str = REVIEWER, **query: Any) -> Any:
    response = api.client.get("/api/inbox", params=query, headers=api.as_(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_overdue_steps_come_first(api: Api, clock: SimulatedClock) -> None:
    older = submitted(api)
    clock.advance(dt.timedelta(days=12))  # past the review's 7 working days
    newer = submitted(api, "zishan-bike-factory")
    items = inbox(api)["items"]
    assert [(i["plan_id"], i["overdue"]) for i in items] == [(older, True), (newer, False)]
    first = items[0]
    assert first["state"] == "township_review" and first["state_title"]
    assert first["org"]["code"] == "zishan-middle-school"
    assert first["actions"] == ["approve", "return"]
    assert first["countersign"] is None and first["due_at"] is not None


def test_countersign_progress(api: Api) -> None:
    plan_id = submitted(api)
    act(api.rt, plan_id=plan_id, trigger="approve", actor=REVIEWER)
    [waiting] = inbox(api, "li-county")["items"]
    assert waiting["countersign"] == {"signed": 0, "asked": 2}
    act(api.rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    [waiting] = inbox(api, "li-county")["items"]
    assert (waiting["plan_id"], waiting["countersign"]) == (plan_id, {"signed": 1, "asked": 2})
    assert inbox(api, "wang-county")["items"] == []  # signed already


def test_filters(api: Api) -> None:
    school = submitted(api)
    factory = submitted(api, "zishan-bike-factory", year=2028)

    def ids(**query: Any) -> list[int]:
        return sorted(i["plan_id"] for i in inbox(api, **query)["items"])

    assert ids() == sorted([school, factory])
    assert ids(year=2028) == [factory]
    assert ids(township="zishan-middle-school") == [school]
    assert ids(state="镇工会审核") == ids(state="township_review") == sorted([school, factory])
    assert ids(state="draft") == []


def test_refused_filters_name_themselves(api: Api) -> None:
    headers = api.as_(REVIEWER)
    unknown_state = api.client.get("/api/inbox", params={"state": "nowhere"}, headers=headers)
    assert unknown_state.status_code == 404
    assert unknown_state.json()["error"]["code"] == "state.unknown"
    beyond = api.client.get("/api/inbox", params={"township": "songshan-town"}, headers=headers)
    unknown = api.client.get("/api/inbox", params={"township": "nowhere-town"}, headers=headers)
    assert beyond.status_code == unknown.status_code == 404
    assert masked_error(beyond) == masked_error(unknown)
    for query, field in (({"year": "x"}, "year"), ({"page": "2"}, "page")):
        refused = api.client.get("/api/inbox", params=query, headers=headers)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field


def test_a_returned_plan_waits_with_its_reason(api: Api) -> None:
    plan_id = submitted(api)
    reason = "<b>目标</b> 太低 & 请改"
    act(api.rt, plan_id=plan_id, trigger="return", actor=REVIEWER, comment=reason)
    answer = inbox(api, "chen-school")
    assert answer["items"] == []
    [returned] = answer["returned"]
    assert (returned["plan_id"], returned["returned"]["reason"]) == (plan_id, reason)
    assert "submit" in returned["actions"]
    assert inbox(api)["items"] == []


def test_the_inbox_comes_in_pages_with_the_total(api: Api) -> None:
    plan_ids = [
        submitted(api, org, year)
        for year in (2027, 2028)
        for org in ("zishan-middle-school", "zishan-bike-factory")
    ]
    whole = inbox(api)
    assert whole["total"] == 4 and {i["plan_id"] for i in whole["items"]} == set(plan_ids)
    first, second = inbox(api, limit=3), inbox(api, limit=3, offset=3)
    assert (first["total"], second["total"]) == (4, 4)
    assert [i["plan_id"] for i in first["items"] + second["items"]] == [
        i["plan_id"] for i in whole["items"]
    ]
    for wrong in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}):
        response = api.client.get("/api/inbox", params=wrong, headers=api.as_(REVIEWER))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == next(iter(wrong))
