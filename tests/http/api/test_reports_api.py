"""`GET`/`PUT /api/plans/{id}/report` on SQLite and PostgreSQL: the year-end report is one write
with one audit row, or nothing at all; each refusal names its line."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.core.clock import SimulatedClock
from engine.service.plan_views import plan_history, show_plan
from engine.service.timers import fire_due_timers
from tests.http.api.conftest import Api
from tests.world import live_plan

TZ = ZoneInfo("Asia/Shanghai")
DRAFTER = "chen-school"


@pytest.fixture
def evaluating(api: Api, clock: SimulatedClock) -> int:
    """A school plan (goals goal-1 ≥ 100 人, goal-2 ≥ 200 人; items 1月活动–3月活动) at its
    self-evaluation."""
    plan_id = live_plan(api.rt)
    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    assert [fired.error for fired in fire_due_timers(api.rt)] == [None]
    return plan_id


def put(api: Api, plan_id: int, body: Any, user: str = DRAFTER, **headers: str):  # type: ignore[no-untyped-def]
    return api.client.put(
        f"/api/plans/{plan_id}/report", json=body, headers={**api.as_(user), **headers}
    )


def trail(api: Api, plan_id: int) -> list[str]:
    return [e.event.action for e in plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)]


WHOLE: dict[str, Any] = {
    "goals": {"goal-1": {"actual": 120}, "goal-2": {"actual": 180.5, "note": "招聘推迟"}},
    "items": [
        {"month": 1, "title": "1月活动", "status": "done"},
        {"month": 2, "title": "2月活动", "status": "done"},
        {"month": 3, "title": "3月活动", "status": "not_done", "note": "<b>疫情</b>停办"},
    ],
}


def test_a_whole_report_is_one_write(api: Api, evaluating: int) -> None:
    before = show_plan(api.rt, plan_id=evaluating, actor=DRAFTER).plan.version
    shown = api.client.get(f"/api/plans/{evaluating}/report", headers=api.as_(DRAFTER))
    assert shown.status_code == 200
    assert shown.json()["goals_open"] and shown.json()["items_open"]
    assert shown.headers["ETag"] == f'"{before}"'

    response = put(api, evaluating, WHOLE, **{"If-Match": f'"{before}"', "Idempotency-Key": "r1"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["version"] == before + 1
    assert {k: (g["actual"], g["met"]) for k, g in report["goals"].items()} == {
        "goal-1": (120, True),
        "goal-2": (180.5, False),
    }
    assert [i["status"] for i in report["items"]] == ["done", "done", "not_done"]
    assert report["items"][2]["note"] == "<b>疫情</b>停办"
    assert trail(api, evaluating)[-1] == "report_year_end"
    assert trail(api, evaluating).count("report_year_end") == 1
    view = show_plan(api.rt, plan_id=evaluating, actor=DRAFTER)
    assert view.plan.version == before + 1
    assert "submit_evaluation" in view.possible
    # the same request again: the same answer, nothing written twice
    again = put(api, evaluating, WHOLE, **{"Idempotency-Key": "r1"})
    assert again.status_code == 200 and again.json() == report
    assert trail(api, evaluating).count("report_year_end") == 1
    other = put(api, evaluating, {"goals": {"goal-1": {"actual": 1}}}, **{"Idempotency-Key": "r1"})
    assert other.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["goals"]["goal-2"].update(actual=-5), "goals.goal-2.actual"),
        (lambda b: b["items"][2].pop("note"), "items[2].note"),
        (lambda b: b["goals"].update({"nope": {"actual": 1}}), "goals.nope"),
        (lambda b: b["items"].append({"month": 9, "title": "没有", "status": "done"}), "items[3]"),
        (lambda b: b["items"].append(dict(b["items"][0])), "items[3]"),
        (lambda b: b["goals"]["goal-1"].update(actual=False), "goals.goal-1.actual"),
        (lambda b: b["items"][0].update(status="finished"), "items[0].status"),
    ],
)
def test_a_refused_line_writes_nothing(api: Api, evaluating: int, change: Any, field: str) -> None:
    before = trail(api, evaluating)
    body = {
        "goals": {k: dict(v) for k, v in WHOLE["goals"].items()},
        "items": [dict(i) for i in WHOLE["items"]],
    }
    change(body)
    response = put(api, evaluating, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert trail(api, evaluating) == before
    view = show_plan(api.rt, plan_id=evaluating, actor=DRAFTER)
    assert [g.actual for g in view.goals] == [None, None]
    assert [i.status for i in view.items] == [None, None, None]


def test_goals_wait_for_the_self_evaluation(api: Api) -> None:
    plan_id = live_plan(api.rt)
    body = {
        "goals": {"goal-1": {"actual": 120}},
        "items": [{"month": 1, "title": "1月活动", "status": "done"}],
    }
    refused = put(api, plan_id, body)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "report.closed"
    assert show_plan(api.rt, plan_id=plan_id, actor=DRAFTER).items[0].status is None
    items_only = put(api, plan_id, {"items": body["items"]})
    assert items_only.status_code == 200, items_only.text
    assert items_only.json()["items"][0]["status"] == "done"
    assert put(api, plan_id, {}).json()["error"]["code"] == "report.empty"


def test_only_owners_report_and_others_see_no_plan(api: Api, evaluating: int) -> None:
    reviewer = put(api, evaluating, WHOLE, user="zhao-zishan")
    assert reviewer.status_code == 403
    other = put(api, evaluating, WHOLE, user="zhou-hospital")
    missing = put(api, 99999, WHOLE, user="zhou-hospital")
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "plan.not_found"
    stale = put(api, evaluating, WHOLE, **{"If-Match": "1"})
    assert stale.status_code == 409
    assert "report_year_end" not in trail(api, evaluating)
