"""The reminder routes of the API on both databases: an administrator lists the reminders of
their realm's plans (each filter honoured or refused) and retries one or every dead one, audited
with them as the actor; beyond the realm, and for anyone else, 404 with nothing written."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.demo.world import ADMIN
from engine.service import directory
from engine.service.directory import find_any_user
from engine.service.reminders import list_reminders
from engine.service.runtime import Runtime
from engine.store.tables import AuditEvent
from tests.http.api.conftest import Api
from tests.service.test_reminders_admin import FIRST_FIRE, Channel, cycle
from tests.world import live_plan

TOWN_ADMIN = "admin-songshan"


def make_town_admin(api: Api) -> None:
    directory.create_user(
        api.rt, username=TOWN_ADMIN, name="松山管理员", org="songshan-town", roles=["admin"]
    )


def retries(rt: Runtime) -> list[AuditEvent]:
    with rt.database.session() as session:
        query = select(AuditEvent).where(AuditEvent.action == "retry_reminder")
        return list(session.exec(query.order_by(col(AuditEvent.id))))


def statuses(rt: Runtime) -> dict[int, str]:
    return {view.id: view.status for view in list_reminders(rt, limit=10_000)}


def dead_world(api: Api, clock: SimulatedClock) -> tuple[int, int]:
    """A live plan in each township, each with its first reminder dead."""
    zishan = live_plan(api.rt)
    songshan = live_plan(api.rt, "songshan-hospital")
    send = Channel()
    send.refusing = True
    clock.set(FIRST_FIRE)
    cycle(api.rt, send)
    return zishan, songshan


def listed(api: Api, user: str = ADMIN, **params: Any) -> Any:
    return api.client.get("/api/reminders", params=params, headers=api.as_(user))


def test_listing_with_each_filter(api: Api, clock: SimulatedClock) -> None:
    zishan, songshan = dead_world(api, clock)
    everything = listed(api, limit=1000)
    assert everything.status_code == 200, everything.text
    assert {r["plan_id"] for r in everything.json()} == {zishan, songshan}
    dead = listed(api, status="dead").json()
    assert {r["plan_id"] for r in dead} == {zishan, songshan}
    assert all(r["status"] == "dead" for r in dead)
    [delivery] = dead[0]["deliveries"]
    assert delivery["status"] == "dead" and delivery["last_error"]
    one_plan = listed(api, plan_id=songshan, limit=1000).json()
    assert one_plan and {r["plan_id"] for r in one_plan} == {songshan}
    assert len(listed(api, limit=1).json()) == 1


def test_filters_that_cannot_be_honoured_are_refused(api: Api, clock: SimulatedClock) -> None:
    dead_world(api, clock)
    for params, field in (
        ({"status": "asleep"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"plan_id": "x"}, "plan_id"),
        ({"org": "zishan-town"}, "org"),
    ):
        response = listed(api, **params)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field
    for huge in (2**31, 2**63):  # beyond any id: refused, never sent to the database (a 500)
        too_big = listed(api, plan_id=huge)
        assert (too_big.status_code, too_big.json()["error"]["field"]) == (422, "plan_id")
        retried = api.client.post(f"/api/reminders/{huge}/retry", headers=api.as_(ADMIN))
        assert (retried.status_code, retried.json()["error"]["field"]) == (422, "reminder_id")
    missing = listed(api, plan_id=987654)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "plan.not_found")


def test_a_township_administrator_sees_and_retries_only_their_realm(
    api: Api, clock: SimulatedClock
) -> None:
    zishan, songshan = dead_world(api, clock)
    make_town_admin(api)
    mine = listed(api, TOWN_ADMIN, limit=1000).json()
    assert mine and {r["plan_id"] for r in mine} == {songshan}
    outside = listed(api, TOWN_ADMIN, plan_id=zishan)
    missing = listed(api, TOWN_ADMIN, plan_id=987654)
    assert outside.status_code == missing.status_code == 404
    assert json.dumps(outside.json()) == json.dumps(missing.json()).replace("987654", str(zishan))

    [theirs] = [r["id"] for r in listed(api, status="dead").json() if r["plan_id"] == zishan]
    before = statuses(api.rt)
    refused = api.client.post(f"/api/reminders/{theirs}/retry", headers=api.as_(TOWN_ADMIN))
    nothing = api.client.post("/api/reminders/987654/retry", headers=api.as_(TOWN_ADMIN))
    assert refused.status_code == nothing.status_code == 404
    assert json.dumps(refused.json()) == json.dumps(nothing.json()).replace("987654", str(theirs))
    assert statuses(api.rt) == before and retries(api.rt) == []

    all_dead = api.client.post("/api/reminders/retry-dead", headers=api.as_(TOWN_ADMIN))
    assert all_dead.status_code == 200, all_dead.text
    assert [o["plan_id"] for o in all_dead.json()] == [songshan]
    assert statuses(api.rt)[theirs] == "dead"  # the other township's stays as it was


def test_a_retry_is_audited_with_the_administrator_as_actor(
    api: Api, clock: SimulatedClock
) -> None:
    zishan, songshan = dead_world(api, clock)
    dead = [r["id"] for r in listed(api, status="dead").json()]
    first = api.client.post(f"/api/reminders/{dead[0]}/retry", headers=api.as_(ADMIN))
    assert first.status_code == 200, first.text
    assert (first.json()["from_status"], first.json()["to_status"]) == ("dead", "failed")
    assert first.json()["deliveries"] == 1
    assert statuses(api.rt)[dead[0]] == "failed"
    planned = listed(api, status="planned", limit=1).json()[0]["id"]
    refused = api.client.post(f"/api/reminders/{planned}/retry", headers=api.as_(ADMIN))
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        422,
        "reminder.not_retryable",
    )
    assert statuses(api.rt)[planned] == "planned"
    rest = api.client.post("/api/reminders/retry-dead", headers=api.as_(ADMIN))
    assert [o["reminder_id"] for o in rest.json()] == dead[1:]
    with api.rt.database.read() as tx:
        admin_id = find_any_user(tx, ADMIN).id
    events = retries(api.rt)
    assert [json.loads(e.detail or "{}")["reminder"] for e in events] == dead
    assert all(e.actor_id == admin_id for e in events)
    assert {e.plan_id for e in events} == {zishan, songshan}


def test_reminders_are_for_administrators_only(api: Api, clock: SimulatedClock) -> None:
    dead_world(api, clock)
    before = statuses(api.rt)
    [dead, *_] = [r["id"] for r in listed(api, status="dead").json()]
    for method, path in (
        ("GET", "/api/reminders"),
        ("POST", f"/api/reminders/{dead}/retry"),
        ("POST", "/api/reminders/retry-dead"),
    ):
        response = api.client.request(method, path, headers=api.as_("zhao-zishan"))
        assert (response.status_code, response.json()["error"]["code"]) == (404, "admin.only")
    assert statuses(api.rt) == before and retries(api.rt) == []
