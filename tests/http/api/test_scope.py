"""Every route of the API, walked from `app.routes`, as users of township B (songshan) acting on
township A's (zishan's) objects: each answer is the very answer a thing that does not exist gets
(404, the same body but for the name or id), lists never hold township A's objects, and nothing
is written. A route without a case here fails the walk, so a new route cannot escape it.

B's people: `sun-songshan` (township reviewer and drafter of songshan-town) and `admin-songshan`
(administrator of songshan-town and below). Templates have no realm: as someone who is not an
administrator, every template route answers as for a template that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlmodel import func, select

from engine.service import directory, templates
from engine.service.actions import act
from engine.service.plans import create_plan
from engine.service.reminders import list_reminders
from engine.store.tables import AuditEvent
from tests.http.api.conftest import Api
from tests.world import live_plan, small_plan

B_USER = "sun-songshan"
B_ADMIN = "admin-songshan"
A_ORGS = {"zishan-town", "zishan-middle-school", "zishan-bike-factory"}
A_USERS = {"zhao-zishan", "chen-school", "liu-factory"}
MISSING = 987654  # no plan or reminder has this id


@dataclass(frozen=True)
class World:
    draft: int  # township A's plans, in three states
    submitted: int
    live: int
    reminder: int  # a reminder of township A's live plan
    b_live: int  # township B's own plan, so that B's lists are not empty
    admin: str  # who acts on the administrators' routes: B's administrator, or B's reviewer

    @property
    def is_admin(self) -> bool:
        return self.admin == B_ADMIN

    @property
    def a_plans(self) -> set[int]:
        return {self.draft, self.submitted, self.live}


@pytest.fixture(params=[B_ADMIN, B_USER])
def world(api: Api, request: pytest.FixtureRequest) -> World:
    rt = api.rt
    directory.create_user(
        rt, username=B_ADMIN, name="松山管理员", org="songshan-town", roles=["admin"]
    )
    live = live_plan(rt)
    b_live = live_plan(rt, "songshan-hospital")
    draft = create_plan(rt, spec=small_plan(year=2028), actor="chen-school").plan_id
    submitted = create_plan(rt, spec=small_plan("zishan-bike-factory"), actor="liu-factory").plan_id
    act(rt, plan_id=submitted, trigger="submit", actor="liu-factory")
    reminder = next(r.id for r in list_reminders(rt, limit=10_000) if r.plan_id == live)
    return World(draft, submitted, live, reminder, b_live, request.param)


def snapshot(api: Api) -> Any:
    """Everything a refused request might have written."""
    rt = api.rt
    with rt.database.session() as session:
        audit = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return (
        audit,
        [(o.code, o.name, o.parent_id) for o in directory.list_orgs(rt)],
        [(e.person, e.roles) for e in directory.list_users(rt)],
        [(t.name, t.version, t.checksum) for t in templates.list_templates(rt)],
        [(r.id, r.status, r.attempts) for r in list_reminders(rt, limit=10_000)],
    )


def call(api: Api, user: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**api.as_(user), **kwargs.pop("headers", {})}
    return api.client.request(method, path, headers=headers, **kwargs)


def same_as_missing(
    api: Api,
    user: str,
    method: str,
    theirs: str,
    missing: str,
    swap: tuple[object, object],
    *,
    status: int | None = 404,
    **kwargs: Any,
) -> None:
    """`theirs` (township A's) answers as `missing` (nothing) does, but for the name or id."""
    answer = call(api, user, method, theirs, **kwargs)
    nothing = call(api, user, method, missing, **kwargs)
    assert answer.status_code == nothing.status_code, (theirs, answer.text, nothing.text)
    if status is not None:
        assert answer.status_code == status, (theirs, answer.text)
    assert answer.status_code >= 400, (theirs, answer.text)
    said = json.dumps(nothing.json(), ensure_ascii=False).replace(str(swap[1]), str(swap[0]))
    assert answer.json() == json.loads(said), (theirs, answer.text, nothing.text)


def same_body_as_missing(
    api: Api,
    user: str,
    method: str,
    path: str,
    theirs: dict[str, Any],
    missing: dict[str, Any],
    swap: tuple[object, object],
) -> None:
    """A write naming township A's organisation answers as one naming none."""
    answer = call(api, user, method, path, json=theirs)
    nothing = call(api, user, method, path, json=missing)
    assert answer.status_code == nothing.status_code == 404, (path, answer.text, nothing.text)
    said = json.dumps(nothing.json(), ensure_ascii=False).replace(str(swap[1]), str(swap[0]))
    assert answer.json() == json.loads(said), (path, answer.text, nothing.text)


def ids_in(value: Any) -> set[int]:
    """Every plan id an answer mentions (`id` of a plan, `plan_id` anywhere)."""
    found: set[int] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("plan_id", "id") and isinstance(inner, int):
                found.add(inner)
            found |= ids_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= ids_in(inner)
    return found


def texts_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(texts_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(texts_in(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def plan_file(org: str) -> dict[str, Any]:
    return {
        "org": org,
        "year": 2029,
        "title": "计划",
        "template": "annual-work-plan",
        "sections": [{"heading": "指导思想", "body": "以职工为中心。"}],
        "goals": [{"key": "members", "title": "发展会员", "target": 100, "unit": "人"}],
        "items": [{"month": 1, "title": "1月活动"}],
    }


Case = Callable[[Api, World], None]


def plan_read(suffix: str) -> Case:
    def case(api: Api, w: World) -> None:
        for plan in sorted(w.a_plans):
            same_as_missing(
                api, B_USER, "GET", f"/api/plans/{plan}{suffix}",
                f"/api/plans/{MISSING}{suffix}", (plan, MISSING),
            )  # fmt: skip

    return case


def plan_listing(api: Api, w: World) -> None:
    listed = call(api, B_USER, "GET", "/api/plans", params={"limit": 500})
    assert listed.status_code == 200, listed.text
    assert w.b_live in ids_in(listed.json()) and not ids_in(listed.json()) & w.a_plans
    for org in sorted(A_ORGS):
        same_as_missing(
            api, B_USER, "GET", f"/api/plans?org={org}", "/api/plans?org=no-such-org",
            ("no-such-org" and org, "no-such-org"), status=None,
        )  # fmt: skip


def plan_create(api: Api, w: World) -> None:
    same_body_as_missing(
        api, B_USER, "POST", "/api/plans",
        plan_file("zishan-middle-school"), plan_file("no-such-org"),
        ("zishan-middle-school", "no-such-org"),
    )  # fmt: skip


def plan_edit(api: Api, w: World) -> None:
    same_as_missing(
        api, B_USER, "PUT", f"/api/plans/{w.draft}", f"/api/plans/{MISSING}",
        (w.draft, MISSING), json=plan_file("zishan-middle-school"),
    )  # fmt: skip


def plan_action(api: Api, w: World) -> None:
    for trigger in ("approve", "return", "submit"):
        same_as_missing(
            api, B_USER, "POST", f"/api/plans/{w.submitted}/actions/{trigger}",
            f"/api/plans/{MISSING}/actions/{trigger}", (w.submitted, MISSING),
            json={"comment": "同意"},
        )  # fmt: skip


def report_write(api: Api, w: World) -> None:
    same_as_missing(
        api, B_USER, "PUT", f"/api/plans/{w.live}/report", f"/api/plans/{MISSING}/report",
        (w.live, MISSING), json={"goals": {"goal-1": {"actual": 120}}},
    )  # fmt: skip


def inbox(api: Api, w: World) -> None:
    for user in (B_USER, B_ADMIN):
        mine = call(api, user, "GET", "/api/inbox")
        assert mine.status_code == 200, mine.text
        assert not ids_in(mine.json()) & w.a_plans
    same_as_missing(
        api, B_USER, "GET", "/api/inbox?township=zishan-town",
        "/api/inbox?township=no-such-town", ("zishan-town", "no-such-town"), status=None,
    )  # fmt: skip


def me(api: Api, w: World) -> None:
    answer = call(api, B_USER, "GET", "/api/me").json()
    assert (answer["username"], answer["org"]) == (B_USER, "songshan-town")


def not_for_them(api: Api, w: World, method: str, path: str) -> bool:
    """B's reviewer, who administers nothing, gets 404 on an administrators' route."""
    if w.is_admin:
        return False
    answer = call(api, w.admin, method, path)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "admin.only")
    return True


def org_list(api: Api, w: World) -> None:
    if not_for_them(api, w, "GET", "/api/orgs"):
        return
    listed = call(api, w.admin, "GET", "/api/orgs").json()
    assert {o["code"] for o in listed} == {
        "songshan-town",
        "songshan-hospital",
        "songshan-agri-college",
    }


def org_show(api: Api, w: World) -> None:
    for code in sorted(A_ORGS | {"county"}):
        same_as_missing(
            api, w.admin, "GET", f"/api/orgs/{code}", "/api/orgs/no-such-org", (code, "no-such-org")
        )


def org_create(api: Api, w: World) -> None:
    for parent in sorted(A_ORGS):
        same_body_as_missing(
            api, w.admin, "POST", "/api/orgs",
            {"code": "new-org", "name": "新组织", "parent": parent},
            {"code": "new-org", "name": "新组织", "parent": "no-such-org"},
            (parent, "no-such-org"),
        )  # fmt: skip


def user_list(api: Api, w: World) -> None:
    if not_for_them(api, w, "GET", "/api/users"):
        return
    listed = call(api, w.admin, "GET", "/api/users").json()
    names = {u["username"] for u in listed}
    assert B_USER in names and not names & A_USERS and not texts_in(listed) & A_ORGS


def user_object(method: str, suffix: str, body: dict[str, Any] | None = None) -> Case:
    def case(api: Api, w: World) -> None:
        for username in sorted(A_USERS):
            same_as_missing(
                api, w.admin, method, f"/api/users/{username}{suffix}",
                f"/api/users/nobody-here{suffix}", (username, "nobody-here"), json=body,
            )  # fmt: skip

    return case


def user_create(api: Api, w: World) -> None:
    made = {"username": "new-user", "name": "新人", "password": "long-enough-1"}
    same_body_as_missing(
        api, w.admin, "POST", "/api/users",
        {**made, "org": "zishan-middle-school"}, {**made, "org": "no-such-org"},
        ("zishan-middle-school", "no-such-org"),
    )  # fmt: skip


def template_route(method: str, suffix: str = "", **kwargs: Any) -> Case:
    def case(api: Api, w: World) -> None:
        for name in ("annual-work-plan", "township-annual-plan"):
            same_as_missing(
                api, B_USER, method, f"/api/templates/{name}{suffix}",
                f"/api/templates/no-such-template{suffix}", (name, "no-such-template"), **kwargs,
            )  # fmt: skip

    return case


def template_list(api: Api, w: World) -> None:
    same_as_missing(api, B_USER, "GET", "/api/templates", "/api/templates", ("", ""))


def template_upload(api: Api, w: World) -> None:
    source = templates.get_template(api.rt, "annual-work-plan").source.replace(
        "version: 1", "version: 5", 1
    )
    answer = call(
        api, B_USER, "POST", "/api/templates", content=source.encode(),
        headers={"Content-Type": "application/yaml"},
    )  # fmt: skip
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "admin.only")


def reminder_list(api: Api, w: World) -> None:
    if not_for_them(api, w, "GET", "/api/reminders"):
        return
    listed = call(api, w.admin, "GET", "/api/reminders", params={"limit": 1000})
    assert listed.status_code == 200, listed.text
    plans = ids_in([{"plan_id": r["plan_id"]} for r in listed.json()])
    assert w.b_live in plans and not plans & w.a_plans
    same_as_missing(
        api, w.admin, "GET", f"/api/reminders?plan_id={w.live}",
        f"/api/reminders?plan_id={MISSING}", (w.live, MISSING),
    )  # fmt: skip


def reminder_retry(api: Api, w: World) -> None:
    same_as_missing(
        api, w.admin, "POST", f"/api/reminders/{w.reminder}/retry",
        f"/api/reminders/{MISSING}/retry", (w.reminder, MISSING),
    )  # fmt: skip


def reminder_retry_dead(api: Api, w: World) -> None:
    if not_for_them(api, w, "POST", "/api/reminders/retry-dead"):
        return
    answer = call(api, w.admin, "POST", "/api/reminders/retry-dead")
    assert answer.status_code == 200 and not ids_in(answer.json()) & w.a_plans


CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/me"): me,
    ("GET", "/api/orgs"): org_list,
    ("GET", "/api/orgs/{code}"): org_show,
    ("POST", "/api/orgs"): org_create,
    ("GET", "/api/users"): user_list,
    ("GET", "/api/users/{username}"): user_object("GET", ""),
    ("POST", "/api/users"): user_create,
    ("POST", "/api/users/{username}/roles"): user_object("POST", "/roles", {"role": "drafter"}),
    ("DELETE", "/api/users/{username}/roles/{role}"): user_object("DELETE", "/roles/drafter"),
    ("POST", "/api/users/{username}/deactivate"): user_object("POST", "/deactivate"),
    ("POST", "/api/users/{username}/password"): user_object(
        "POST", "/password", {"password": "a-new-password"}
    ),
    ("GET", "/api/templates"): template_list,
    ("GET", "/api/templates/{name}"): template_route("GET"),
    ("GET", "/api/templates/{name}/diagram"): template_route("GET", "/diagram"),
    ("POST", "/api/templates"): template_upload,
    ("POST", "/api/plans"): plan_create,
    ("GET", "/api/plans"): plan_listing,
    ("GET", "/api/plans/{plan_id}"): plan_read(""),
    ("GET", "/api/plans/{plan_id}/history"): plan_read("/history"),
    ("PUT", "/api/plans/{plan_id}"): plan_edit,
    ("POST", "/api/plans/{plan_id}/actions/{trigger}"): plan_action,
    ("GET", "/api/inbox"): inbox,
    ("GET", "/api/plans/{plan_id}/report"): plan_read("/report"),
    ("PUT", "/api/plans/{plan_id}/report"): report_write,
    ("GET", "/api/reminders"): reminder_list,
    ("POST", "/api/reminders/retry-dead"): reminder_retry_dead,
    ("POST", "/api/reminders/{reminder_id}/retry"): reminder_retry,
}


def api_routes(api: Api) -> set[tuple[str, str]]:
    """Every (method, path) of the app under /api, as Starlette matches them."""
    app = api.client.app
    return {
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)  # type: ignore[attr-defined]
        if str(context.path).startswith("/api")
        for method in context.methods or ()
        if method != "HEAD"
    }


def test_every_route_has_a_case(api: Api) -> None:
    routes = api_routes(api)
    assert sorted(routes - CASES.keys()) == [], "routes without a case in test_scope.CASES"
    assert sorted(CASES.keys() - routes) == [], "cases of routes that are gone"


def test_township_b_meets_nothing_of_township_a(api: Api, world: World) -> None:
    before = snapshot(api)
    failures = []
    for route in sorted(api_routes(api)):
        try:
            CASES[route](api, world)
        except AssertionError as error:
            failures.append(f"{route}: {error}")
    assert failures == [], "\n".join(failures)
    assert snapshot(api) == before  # nothing written by any of it
