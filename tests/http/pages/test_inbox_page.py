"""待我审批: the caller's open steps (overdue first, escalations marked, countersign progress), its
filters, and for drafters the plans returned to them with the reason."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, REVIEWER
from engine.service import inbox as inbox_service
from engine.service.actions import act
from engine.service.escalations import fire_due_escalations
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.http.pages.signed_in import log_in_as, world_client
from tests.world import small_plan

WANG, LI = COUNTY_APPROVERS
ZISHAN = REVIEWER["zishan-town"]


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with world_client(rt) as client:
        yield client


def submit(rt: Runtime, org: str, *, year: int = 2027, title: str | None = None) -> int:
    spec = small_plan(org, year=year)
    if title is not None:
        spec = type(spec)(**{**spec.__dict__, "title": title})
    plan_id = create_plan(rt, spec=spec, actor=DRAFTER[org]).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER[org])
    return plan_id


def at_county(rt: Runtime, org: str, *, year: int = 2027) -> int:
    plan_id = submit(rt, org, year=year)
    township = "zishan-town" if org.startswith("zishan") else "songshan-town"
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER[township])
    return plan_id


def rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr.*?</tr>", body, re.S)


def linked(html: str) -> list[int]:
    return [int(n) for row in rows(html) for n in re.findall(r'href="/plans/(\d+)"', row)]


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client: TestClient) -> None:
    response = client.get("/?year=2027", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Fyear%3D2027"


def test_overdue_steps_come_first_and_are_marked(
    rt: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    late = submit(rt, "zishan-middle-school")
    clock.advance(dt.timedelta(days=12))  # past the review's 7 working days
    fresh = submit(rt, "zishan-bike-factory")
    log_in_as(client, ZISHAN)
    html = client.get("/").text
    assert linked(html) == [late, fresh]
    first, second = rows(html)
    assert "已逾期" in first and "已逾期" not in second
    assert "同意" in first and "退回" in first  # what the reviewer may do there


def test_an_escalated_step_is_marked_for_its_new_holder(
    rt: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    plan_id = submit(rt, "zishan-middle-school")
    clock.advance(dt.timedelta(days=11))  # the review escalates to the county after 10 days
    assert fire_due_escalations(rt)
    log_in_as(client, WANG)
    [row] = [r for r in rows(client.get("/").text) if f"/plans/{plan_id}" in r]
    assert "逾期上报" in row


def test_a_countersigned_step_shows_its_progress(rt: Runtime, client: TestClient) -> None:
    plan_id = at_county(rt, "zishan-middle-school")
    log_in_as(client, LI)
    assert "0/2 已同意" in client.get("/").text
    act(rt, plan_id=plan_id, trigger="approve", actor=WANG)
    [row] = rows(client.get("/").text)
    assert "1/2 已同意" in row
    log_in_as(client, WANG)  # signed already: nothing left for them here
    assert linked(client.get("/").text) == []


def test_the_filters_keep_a_township_a_year_a_state(rt: Runtime, client: TestClient) -> None:
    school = at_county(rt, "zishan-middle-school")
    hospital = at_county(rt, "songshan-hospital")
    factory = at_county(rt, "zishan-bike-factory", year=2028)
    log_in_as(client, WANG)
    html = client.get("/").text
    assert sorted(linked(html)) == sorted([school, hospital, factory])
    assert '<option value="zishan-town">梓山镇工会</option>' in html
    assert linked(client.get("/?township=songshan-town").text) == [hospital]
    assert sorted(linked(client.get("/?year=2027&township=").text)) == sorted([school, hospital])
    chosen = client.get("/?state=county_approval&year=2028").text
    assert linked(chosen) == [factory]
    assert '<option value="county_approval" selected>' in chosen
    assert linked(client.get("/?state=township_review").text) == []


def test_htmx_filtering_gets_only_the_list(rt: Runtime, client: TestClient) -> None:
    school = at_county(rt, "zishan-middle-school")
    at_county(rt, "songshan-hospital")
    log_in_as(client, WANG)
    page = client.get("/?township=zishan-town")
    assert 'hx-target="#tasks"' in page.text and '<div id="tasks"' in page.text
    htmx = {"HX-Request": "true", "HX-Target": "tasks"}
    partial = client.get("/?township=zishan-town", headers=htmx)
    assert partial.status_code == 200
    assert "<html" not in partial.text and "<form" not in partial.text
    assert linked(partial.text) == [school] == linked(page.text)


@pytest.mark.parametrize(
    ("query", "status", "said"),
    [
        ("?color=red", 422, "color"),
        ("?year=soon", 422, "soon"),
        ("?year=2027&year=2028", 422, "year"),
        ("?township=nowhere-town", 404, "nowhere-town"),
        ("?state=nonsense", 404, "nonsense"),
    ],
)
def test_a_bad_filter_is_refused_in_chinese_naming_it(
    rt: Runtime, client: TestClient, query: str, status: int, said: str
) -> None:
    log_in_as(client, WANG)
    response = client.get("/" + query)
    assert response.status_code == status
    message = re.findall(r"<p>(.*?)</p>", response.text.split("<h1>出错了</h1>", 1)[1])[0]
    assert said in message
    assert re.search(r"[\u4e00-\u9fff]", message), message  # in Chinese


def test_a_drafter_sees_the_plan_returned_to_them_with_the_reason(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = submit(rt, "zishan-middle-school")
    act(rt, plan_id=plan_id, trigger="return", actor=ZISHAN, comment="请补充健康体检安排")
    log_in_as(client, DRAFTER["zishan-middle-school"])
    html = client.get("/").text
    section = html.split('id="returned"', 1)[1]
    assert f"/plans/{plan_id}" in section
    assert "赵志强" in section and "请补充健康体检安排" in section


def test_a_title_with_markup_is_shown_escaped(rt: Runtime, client: TestClient) -> None:
    submit(rt, "zishan-middle-school", title="<script>alert(1)</script>计划")
    log_in_as(client, ZISHAN)
    html = client.get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;计划" in html


def test_a_long_inbox_comes_in_pages_that_keep_the_filters(
    rt: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_service, "PAGE_SIZE", 2)
    for year in (2027, 2028, 2029):
        submit(rt, "zishan-middle-school", year=year)
    log_in_as(client, ZISHAN)
    first = client.get("/")
    assert len(rows(first.text)) == 2 and "共 3 项，第 1/2 页" in first.text
    assert 'href="/?page=2"' in first.text and "上一页" not in first.text
    second = client.get("/", params={"page": 2})
    assert len(rows(second.text)) == 1 and 'href="/?page=1"' in second.text
    assert set(linked(first.text)).isdisjoint(linked(second.text))
    kept = client.get("/", params={"year": 2027})
    assert "下一页" not in kept.text and len(rows(kept.text)) == 1
    filtered = client.get("/", params={"year": 2028, "page": 1})
    assert len(rows(filtered.text)) == 1
    for wrong in ("0", "-1", "x"):
        refused = client.get("/", params={"page": wrong})
        assert refused.status_code == 422 and "<h1>出错了</h1>" in refused.text
