"""`POST /api/plans/{id}/actions/{trigger}` on SQLite and PostgreSQL: a whole approval flow with
the county's countersign and the assessment's score, replays, stale versions and refusals, each
checked in the audit trail and the plan's version."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from engine.core.clock import SimulatedClock
from engine.service.plan_views import plan_history, show_plan
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item
from engine.service.timers import fire_due_timers
from engine.store.statuses import ItemStatus
from tests.http.api.conftest import Api, masked_error
from tests.world import live_plan, small_plan

TZ = ZoneInfo("Asia/Shanghai")
DRAFTER, REVIEWER = "chen-school", "zhao-zishan"
COUNTY = ("wang-county", "li-county")


def act(api: Api, plan_id: int, trigger: str, user: str, body: Any = None, **headers: str):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/api/plans/{plan_id}/actions/{trigger}",
        json=body,
        headers={**api.as_(user), **headers},
    )


def draft(api: Api, **spec: Any) -> int:
    return create_plan(api.rt, spec=small_plan(**spec), actor=DRAFTER).plan_id


def actions(api: Api, plan_id: int) -> list[str]:
    return [e.event.action for e in plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)]


def test_a_whole_approval_flow_with_countersign_and_assessment(
    api: Api, clock: SimulatedClock
) -> None:
    plan_id = draft(api)
    submitted = act(api, plan_id, "submit", DRAFTER, {})
    assert submitted.status_code == 200, submitted.text
    answer = submitted.json()
    assert (answer["from_state"], answer["state"], answer["version"]) == (
        "draft",
        "township_review",
        2,
    )
    assert submitted.headers["ETag"] == '"2"'
    history = plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)
    assert answer["audit_id"] == history[-1].event.id
    assert history[-1].event.action == "submit"

    assert act(api, plan_id, "approve", REVIEWER).json()["state"] == "county_approval"
    first = act(api, plan_id, "approve", COUNTY[0], {"comment": "同意"}).json()
    assert first["state"] == "county_approval"
    assert first["countersign"] == {"signed": 1, "asked": 2}
    shown = api.client.get(f"/api/plans/{plan_id}", headers=api.as_(COUNTY[0])).json()
    assert "approve" not in [a["trigger"] for a in shown["actions"]]  # signed already
    second = act(api, plan_id, "approve", COUNTY[1]).json()
    assert (second["state"], second["state_title"], second["countersign"]) == (
        "executing",
        "执行中",
        None,
    )

    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    assert [fired.error for fired in fire_due_timers(api.rt)] == [None]
    api._tokens.clear()  # the tokens made in the spring have expired by December
    view = show_plan(api.rt, plan_id=plan_id, actor=DRAFTER)
    for goal in view.goals:
        report_goal(api.rt, plan_id=plan_id, actor=DRAFTER, goal_key=goal.key, actual=500)
    for item in view.items:
        report_item(
            api.rt,
            plan_id=plan_id,
            actor=DRAFTER,
            item_number=item.position,
            status=ItemStatus.DONE,
        )
    evaluated = act(api, plan_id, "submit_evaluation", DRAFTER)
    assert evaluated.status_code == 200, evaluated.text
    assert evaluated.json()["state"] == "county_assessment"
    shown = api.client.get(f"/api/plans/{plan_id}", headers=api.as_(COUNTY[0])).json()
    assess = next(a for a in shown["actions"] if a["trigger"] == "assess")
    assert assess["comment_required"] and assess["score_required"]
    assert (assess["score_min"], assess["score_max"]) == (0, 100)

    no_score = act(api, plan_id, "assess", COUNTY[0], {"comment": "好"})
    assert no_score.status_code == 422 and no_score.json()["error"]["field"] == "score"
    assessed = act(api, plan_id, "assess", COUNTY[0], {"comment": "完成良好", "score": 92})
    assert assessed.status_code == 200, assessed.text
    assert assessed.json()["state"] == "closed"
    view = show_plan(api.rt, plan_id=plan_id, actor=DRAFTER)
    assert (view.plan.assessment_score, view.plan.assessment_comment) == (92, "完成良好")
    assert view.plan.version == assessed.json()["version"]
    last = plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)[-1]
    assert (last.event.id, last.event.action, last.detail) == (
        assessed.json()["audit_id"],
        "assess",
        {"score": 92},
    )


def test_a_replay_answers_the_same_and_writes_nothing(api: Api) -> None:
    plan_id = draft(api)
    first = act(api, plan_id, "submit", DRAFTER, {"comment": "请审"}, **{"Idempotency-Key": "k1"})
    again = act(api, plan_id, "submit", DRAFTER, {"comment": "请审"}, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert actions(api, plan_id) == ["create", "submit"]
    other = act(api, plan_id, "submit", DRAFTER, {"comment": "改了"}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency.request_differs"
    assert show_plan(api.rt, plan_id=plan_id, actor=DRAFTER).plan.version == 2


def test_a_stale_if_match_conflicts(api: Api) -> None:
    plan_id = draft(api)
    stale = act(api, plan_id, "submit", DRAFTER, {}, **{"If-Match": '"7"'})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "plan.version_conflict"
    assert stale.json()["error"]["retryable"] is True
    bad = act(api, plan_id, "submit", DRAFTER, {}, **{"If-Match": "latest"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "If-Match"
    assert actions(api, plan_id) == ["create"]
    fresh = act(api, plan_id, "submit", DRAFTER, {}, **{"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json()["version"] == 2


def test_a_missing_comment_is_refused_naming_it(api: Api) -> None:
    plan_id = draft(api)
    act(api, plan_id, "submit", DRAFTER)
    refused = act(api, plan_id, "return", REVIEWER, {"comment": "   "})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("action.comment_required", "comment")
    assert actions(api, plan_id) == ["create", "submit"]


def test_false_is_not_a_score(api: Api) -> None:
    plan_id = draft(api)
    for score in (False, "90"):
        refused = act(api, plan_id, "submit", DRAFTER, {"score": score})
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "score"
    unknown = act(api, plan_id, "submit", DRAFTER, {"note": "x"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "note"
    assert actions(api, plan_id) == ["create"]


def test_a_guard_that_says_no_is_named(api: Api) -> None:
    plan_id = draft(api, items=0)
    refused = act(api, plan_id, "submit", DRAFTER)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"]["guard"] == "has_items"
    assert actions(api, plan_id) == ["create"]


def test_an_unknown_trigger_is_a_refused_action(api: Api) -> None:
    plan_id = draft(api)
    refused = act(api, plan_id, "launch", DRAFTER)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "action.not_allowed"
    assert actions(api, plan_id) == ["create"]


def test_unknown_plan_and_another_townships_plan_answer_alike(api: Api) -> None:
    plan_id = live_plan(api.rt)
    other = act(api, plan_id, "return", "sun-songshan", {"comment": "x"})
    missing = act(api, 99999, "return", "sun-songshan", {"comment": "x"})
    assert other.status_code == missing.status_code == 404
    assert masked_error(other) == masked_error(missing)
    assert other.json()["error"]["fields"].keys() == missing.json()["error"]["fields"].keys()


def test_script_in_a_comment_is_stored_verbatim(api: Api) -> None:
    plan_id = draft(api)
    act(api, plan_id, "submit", DRAFTER)
    comment = '<img src=x onerror="alert(1)"> 请补充 & 修改'
    returned = act(api, plan_id, "return", REVIEWER, {"comment": comment})
    assert returned.status_code == 200, returned.text
    assert plan_history(api.rt, plan_id=plan_id, actor=DRAFTER)[-1].event.comment == comment
    history = api.client.get(f"/api/plans/{plan_id}/history", headers=api.as_(DRAFTER)).json()
    assert history["items"][-1]["comment"] == comment
    shown = api.client.get(f"/api/plans/{plan_id}", headers=api.as_(DRAFTER)).json()
    assert shown["returned"]["reason"] == comment
