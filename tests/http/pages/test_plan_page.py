"""The plan page: what a plan holds (sections, goals, the 12-month calendar with its reminders,
the history), only the actions the reader may take now, acting through its forms (version,
idempotency key, CSRF) and what it refuses with nothing written."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from engine.core.clock import SimulatedClock
from engine.demo.world import COUNTY_APPROVERS, DRAFTER, REVIEWER
from engine.service.actions import act
from engine.service.plan_views import plan_history, show_plan
from engine.service.plans import create_plan
from engine.service.reporting import report_goal, report_item
from engine.service.runtime import Runtime
from engine.service.timers import fire_due_timers
from engine.store.statuses import ItemStatus
from tests.http.pages.signed_in import log_in_as, world_client
from tests.world import live_plan, small_plan

TZ = ZoneInfo("Asia/Shanghai")
SCHOOL = "zishan-middle-school"
CHEN = DRAFTER[SCHOOL]
ZISHAN = REVIEWER["zishan-town"]
SONGSHAN = REVIEWER["songshan-town"]
WANG, LI = COUNTY_APPROVERS
MARKUP = '<script>alert("x")</script><b>粗</b>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;粗&lt;/b&gt;"


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with world_client(rt) as client:
        yield client


def drafted(rt: Runtime, *, title: str | None = None) -> int:
    spec = small_plan(SCHOOL)
    if title is not None:
        spec = type(spec)(**{**spec.__dict__, "title": title})
    return create_plan(rt, spec=spec, actor=CHEN).plan_id


def submitted(rt: Runtime) -> int:
    plan_id = drafted(rt)
    act(rt, plan_id=plan_id, trigger="submit", actor=CHEN)
    return plan_id


def in_assessment(rt: Runtime, clock: SimulatedClock, *, actual: float) -> int:
    """A school plan whose self-evaluation (goal actuals `actual`) waits for the county."""
    plan_id = live_plan(rt)
    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    assert [fired.error for fired in fire_due_timers(rt)] == [None]
    for key in ("goal-1", "goal-2"):
        report_goal(rt, plan_id=plan_id, actor=CHEN, goal_key=key, actual=actual)
    for number in (1, 2, 3):
        report_item(rt, plan_id=plan_id, actor=CHEN, item_number=number, status=ItemStatus.DONE)
    act(rt, plan_id=plan_id, trigger="submit_evaluation", actor=CHEN)
    return plan_id


def forms(html: str) -> dict[str, str]:
    """The action forms of a page: trigger → the form's HTML."""
    found = re.findall(
        r'(<form method="post" action="/plans/\d+/actions/(\w+)".*?</form>)', html, re.S
    )
    return {trigger: form for form, trigger in found}


def hidden(form: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


def written(rt: Runtime, plan_id: int) -> tuple[int, int]:
    """What a refused action must leave as it was: the plan's version and its history."""
    version = show_plan(rt, plan_id=plan_id, actor=CHEN).plan.version
    return version, len(plan_history(rt, plan_id=plan_id, actor=CHEN))


def section(html: str, name: str) -> str:
    return html.split(f'id="{name}"', 1)[1].split("</section>", 1)[0]


def test_the_page_shows_the_plans_content_calendar_and_history(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = live_plan(rt)
    log_in_as(client, CHEN)
    html = client.get(f"/plans/{plan_id}").text
    assert "指导思想" in section(html, "sections")
    goals = section(html, "goals")
    assert "目标1" in goals and "不少于 100人" in goals and "未填报" in goals
    calendar = section(html, "calendar")
    months = re.findall(r'<th scope="row"[^>]*>(\d+)月</th>', calendar)
    assert months == [str(m) for m in range(1, 13)]  # every month, items or not
    assert "1月活动" in calendar and "未填报" in calendar
    assert "月初提醒" in calendar and "待发送" in calendar  # the items' reminders, planned
    history = section(html, "history")
    assert history.index("陈静") < history.index("赵志强") < history.index("王建国")
    assert "提交" in history and "（草稿 →" in history
    assert "会签 1/2 已同意" in history  # the first county signature
    assert "执行中" in html
    assert "<svg" in section(html, "workflow") and "当前" in section(html, "workflow")


def test_only_the_actions_the_reader_may_take_now_are_offered(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = submitted(rt)
    log_in_as(client, ZISHAN)
    reviewer = forms(client.get(f"/plans/{plan_id}").text)
    assert sorted(reviewer) == ["approve", "return"]
    assert "required" in reviewer["return"].split("</textarea>")[0]  # a reason is required
    assert "required" not in reviewer["approve"].split("</textarea>")[0]
    assert ">退回</button>" in reviewer["return"] and ">同意</button>" in reviewer["approve"]
    log_in_as(client, CHEN)
    assert sorted(forms(client.get(f"/plans/{plan_id}").text)) == ["withdraw"]
    log_in_as(client, WANG)  # the county may return it from the township's step, not approve it
    assert sorted(forms(client.get(f"/plans/{plan_id}").text)) == ["return"]
    act(rt, plan_id=plan_id, trigger="approve", actor=ZISHAN)
    log_in_as(client, CHEN)  # at the county: nothing for the drafter to do
    html = client.get(f"/plans/{plan_id}").text
    assert forms(html) == {} and 'id="actions"' not in html


def test_a_draft_offers_its_drafter_submit_and_the_editor(rt: Runtime, client: TestClient) -> None:
    plan_id = drafted(rt)
    log_in_as(client, CHEN)
    html = client.get(f"/plans/{plan_id}").text
    assert sorted(forms(html)) == ["submit"]
    assert f'href="/plans/{plan_id}/edit"' in html


def test_returning_with_a_reason_goes_back_to_the_page_which_confirms_it(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = submitted(rt)
    log_in_as(client, ZISHAN)
    form = hidden(forms(client.get(f"/plans/{plan_id}").text)["return"])
    done = client.post(
        f"/plans/{plan_id}/actions/return",
        data={**form, "comment": "请补充健康体检安排"},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/plans/{plan_id}?done=return")
    assert "已退回" in client.get(done.headers["location"]).text
    log_in_as(client, CHEN)  # the drafter reads who returned it and why
    notices = client.get(f"/plans/{plan_id}").text
    assert "计划已被退回" in notices and "赵志强" in notices and "请补充健康体检安排" in notices


def test_the_confirmation_names_only_what_the_pages_do(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    log_in_as(client, ZISHAN)
    crafted = client.get(f"/plans/{plan_id}", params={"done": "中奖，请联系 400-000"})
    assert crafted.status_code == 200 and "中奖" not in crafted.text
    assert "已创建。" in client.get(f"/plans/{plan_id}", params={"done": "create"}).text


def test_a_return_without_a_reason_is_refused_and_the_page_says_so(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = submitted(rt)
    before = written(rt, plan_id)
    log_in_as(client, ZISHAN)
    form = hidden(forms(client.get(f"/plans/{plan_id}").text)["return"])
    response = client.post(f"/plans/{plan_id}/actions/return", data={**form, "comment": "  "})
    assert response.status_code == 422
    assert "“退回”须填写意见" in response.text
    assert sorted(forms(response.text)) == ["approve", "return"]  # still there to try again
    assert written(rt, plan_id) == before


def test_a_stale_version_is_refused_someone_acted_first(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    log_in_as(client, ZISHAN)
    form = hidden(forms(client.get(f"/plans/{plan_id}").text)["approve"])
    act(rt, plan_id=plan_id, trigger="withdraw", actor=CHEN)  # meanwhile
    act(rt, plan_id=plan_id, trigger="submit", actor=CHEN)
    before = written(rt, plan_id)
    response = client.post(f"/plans/{plan_id}/actions/approve", data=form)
    assert response.status_code == 409
    assert "计划已被他人修改" in response.text
    fresh = hidden(forms(response.text)["approve"])  # the page shows the plan as it is now
    assert (
        int(fresh["version"]) == before[0] and fresh["idempotency_key"] != form["idempotency_key"]
    )
    assert written(rt, plan_id) == before


def test_a_form_sent_twice_acts_once(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    log_in_as(client, ZISHAN)
    form = {**hidden(forms(client.get(f"/plans/{plan_id}").text)["approve"]), "comment": "同意"}
    first = client.post(f"/plans/{plan_id}/actions/approve", data=form, follow_redirects=False)
    again = client.post(f"/plans/{plan_id}/actions/approve", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    actions = [e.event.action for e in plan_history(rt, plan_id=plan_id, actor=CHEN)]
    assert actions == ["create", "submit", "approve"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"csrf_token": "forged"}, 403),
        ({"csrf_token": None}, 403),
        ({"reviewer": "wang-county"}, 422),  # an unknown field is not ignored
        ({"version": "newest"}, 422),
        ({"version": None}, 422),  # a page form always says which version it shows
        ({"idempotency_key": None}, 422),
        ({"idempotency_key": "k" * 300}, 422),
        ({"score": "5"}, 422),  # approve takes no score
    ],
)
def test_a_bad_form_is_refused_and_nothing_is_written(
    rt: Runtime, client: TestClient, change: dict[str, str | None], status: int
) -> None:
    plan_id = submitted(rt)
    before = written(rt, plan_id)
    log_in_as(client, ZISHAN)
    form: dict[str, str | None] = {
        **hidden(forms(client.get(f"/plans/{plan_id}").text)["approve"]),
        **change,
    }
    data = {name: value for name, value in form.items() if value is not None}
    response = client.post(f"/plans/{plan_id}/actions/approve", data=data)
    assert response.status_code == status
    assert written(rt, plan_id) == before


def test_a_cross_site_post_is_refused(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    before = written(rt, plan_id)
    log_in_as(client, ZISHAN)
    form = hidden(forms(client.get(f"/plans/{plan_id}").text)["approve"])
    response = client.post(
        f"/plans/{plan_id}/actions/approve",
        data=form,
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert written(rt, plan_id) == before


def test_a_plan_out_of_scope_is_not_found(rt: Runtime, client: TestClient) -> None:
    plan_id = submitted(rt)
    before = written(rt, plan_id)
    log_in_as(client, SONGSHAN)  # the other township
    page = client.get(f"/plans/{plan_id}")
    assert page.status_code == 404 and "没有编号为" in page.text
    assert client.get("/plans/99999").status_code == 404
    csrf = log_in_as(client, SONGSHAN)
    response = client.post(
        f"/plans/{plan_id}/actions/return",
        data={"csrf_token": csrf, "comment": "越权", "version": str(before[0])},
    )
    assert response.status_code == 404
    assert written(rt, plan_id) == before


def test_script_and_html_in_titles_and_comments_are_shown_escaped(
    rt: Runtime, client: TestClient
) -> None:
    plan_id = drafted(rt, title=MARKUP)
    act(rt, plan_id=plan_id, trigger="submit", actor=CHEN, comment=MARKUP)
    log_in_as(client, ZISHAN)
    html = client.get(f"/plans/{plan_id}").text
    assert MARKUP not in html and "<b>" not in html
    assert html.count(ESCAPED) >= 3  # the title, the heading, the history's comment
    form = hidden(forms(html)["return"])
    client.post(f"/plans/{plan_id}/actions/return", data={**form, "comment": MARKUP})
    assert plan_history(rt, plan_id=plan_id, actor=CHEN)[-1].event.comment == MARKUP  # verbatim
    log_in_as(client, CHEN)
    assert "<script>" not in client.get(f"/plans/{plan_id}").text
    assert "<script>" not in client.get("/plans").text


def test_an_unknown_query_parameter_is_refused(rt: Runtime, client: TestClient) -> None:
    plan_id = drafted(rt)
    log_in_as(client, CHEN)
    response = client.get(f"/plans/{plan_id}?tab=history")
    assert response.status_code == 422 and "tab" in response.text


def test_the_county_assesses_with_a_score_and_shortfalls_are_marked(
    rt: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    plan_id = in_assessment(rt, clock, actual=50)  # targets 100 and 200: both short
    log_in_as(client, WANG)
    html = client.get(f"/plans/{plan_id}").text
    goals = section(html, "goals")
    assert goals.count('<span class="shortfall">50人</span>') == 2 and goals.count("未达成") == 2
    assessment = forms(html)["assess"]
    assert 'name="score"' in assessment and 'min="0" max="100"' in assessment
    form = {**hidden(assessment), "comment": "完成较差"}
    missing = client.post(f"/plans/{plan_id}/actions/assess", data=form)
    assert missing.status_code == 422 and "“考核”须填写评分" in missing.text
    high = client.post(f"/plans/{plan_id}/actions/assess", data={**form, "score": "150"})
    assert high.status_code == 422 and "150" in high.text
    assert 'value="150"' in high.text and "完成较差" in high.text  # what was typed stays
    done = client.post(f"/plans/{plan_id}/actions/assess", data={**form, "score": "61.5"})
    assert done.status_code == 200  # followed to the page
    assert "已考核" in done.text and "考核评分：<strong>61.5</strong>" in done.text
    assert show_plan(rt, plan_id=plan_id, actor=WANG).plan.state == "closed"
    assert "评分 61.5" in section(done.text, "history")


def test_goals_met_are_marked_met(rt: Runtime, client: TestClient, clock: SimulatedClock) -> None:
    plan_id = in_assessment(rt, clock, actual=250)
    log_in_as(client, CHEN)
    goals = section(client.get(f"/plans/{plan_id}").text, "goals")
    assert goals.count("已达成") == 2 and "shortfall" not in goals
    history = section(client.get(f"/plans/{plan_id}").text, "history")
    assert "目标1：250人" in history and "第1项（1月活动）：已完成" in history


def test_my_plans_lists_a_drafters_own_plans_with_the_return_reason(
    rt: Runtime, client: TestClient
) -> None:
    returned = submitted(rt)
    act(rt, plan_id=returned, trigger="return", actor=ZISHAN, comment="请补充安全生产月活动")
    other = create_plan(rt, spec=small_plan(SCHOOL, year=2028), actor=CHEN).plan_id
    create_plan(rt, spec=small_plan("zishan-bike-factory"), actor=DRAFTER["zishan-bike-factory"])
    log_in_as(client, CHEN)
    html = client.get("/plans").text
    assert re.findall(r'href="/plans/(\d+)"', html) == [str(other), str(returned)]
    assert "已退回" in html and "请补充安全生产月活动" in html
    assert re.findall(r'href="/plans/(\d+)"', client.get("/plans?year=2028").text) == [str(other)]
    log_in_as(client, WANG)  # an approver owns no plans
    assert "暂无计划" in client.get("/plans").text
    assert client.get("/plans?state=draft").status_code == 422
