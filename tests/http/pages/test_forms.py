"""The drafters' forms over HTTP: the plan editor (new, edit, rows added and removed with and
without script), the amendment of a live plan's items, and the year-end self-evaluation; on
SQLite and PostgreSQL.

Every refused submit shows the form again, the problem in Chinese next to its field, and leaves
the plan (or the lack of one) exactly as it was: version and audit trail unchanged.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from engine.core.clock import SimulatedClock
from engine.http.app import create_app
from engine.service.actions import act
from engine.service.plan_views import list_plans, plan_history, show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.timers import fire_due_timers
from tests.http.helpers import login, set_passwords
from tests.world import live_plan, setup_world, small_plan

TZ = ZoneInfo("Asia/Shanghai")
DRAFTER, OTHER_DRAFTER, REVIEWER = "chen-school", "zhou-hospital", "zhao-zishan"


# ----------------------------------------------------------------------------------- helpers


def sign_in(client: TestClient, username: str) -> str:
    """Log `username` in on `client` through the login page (whoever was logged in on it
    before is forgotten); returns the session's CSRF token."""
    client.cookies.clear()
    return login(client, username)


@pytest.fixture
def world(rt: Runtime) -> Runtime:
    setup_world(rt)
    set_passwords(rt)
    return rt


@pytest.fixture
def client(world: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(world), follow_redirects=False) as test_client:
        yield test_client


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name}"
    return found.group(1)


def new_plan_form(csrf: str, page: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """A valid submit of the new-plan form shown as `page`, with `changes`."""
    fields: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "key": hidden(page, "key"),
        "title": "梓山中学工会2027年工作计划",
        "year": "2027",
        "org": "zishan-middle-school",
        "template": "annual-work-plan",
        "section_row": ["s1"],
        "section_heading": ["指导思想"],
        "section_body": ["以职工为中心。"],
        "goal_row": ["g1", "g2"],
        "goal_key": ["members", "activities"],
        "goal_title": ["发展新会员", "开展活动"],
        "goal_target": ["300", "12.5"],
        "goal_unit": ["人", "次"],
        "goal_comparator": [">=", ">="],
        "goal_allow_negative": ["no", "no"],
        "item_row": ["i1", "i2", "i3"],
        "item_month": ["3", "5", "9"],
        "item_title": ["庆祝三八国际劳动妇女节", "职工健康体检", "金秋助学"],
        "item_detail": ["", "全体职工", ""],
        "item_due_day": ["", "20", ""],
    }
    fields.update(changes)
    return fields


def post(client: TestClient, url: str, fields: dict[str, str | list[str]]) -> Response:
    return client.post(url, data=fields)


def audit_of(rt: Runtime, plan_id: int) -> list[str]:
    return [entry.event.action for entry in plan_history(rt, plan_id=plan_id, actor=DRAFTER)]


def text_of(page: str) -> str:
    """The page's text with tags and runs of space taken out, to read sentences in it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


# --------------------------------------------------------------------------- a new plan


def test_a_drafter_creates_a_plan_in_the_form(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    page = client.get("/plans/new")
    assert page.status_code == 200
    assert '<option value="zishan-middle-school" selected>梓山中学工会</option>' in page.text
    assert page.text.count('name="goal_key"') == 1  # one empty row of each kind to start with

    answer = post(client, "/plans/new", new_plan_form(csrf, page.text))

    assert answer.status_code == 303
    plan_id = int(answer.headers["location"].removeprefix("/plans/"))
    view = show_plan(world, plan_id=plan_id, actor=DRAFTER)
    assert (view.plan.title, view.plan.year, view.plan.state) == (
        "梓山中学工会2027年工作计划",
        2027,
        "draft",
    )
    assert [(g.key, g.target, g.unit) for g in view.goals] == [
        ("members", 300, "人"),
        ("activities", 12.5, "次"),
    ]
    assert [(i.month, i.title, i.detail, i.due_day) for i in view.items] == [
        (3, "庆祝三八国际劳动妇女节", "", None),
        (5, "职工健康体检", "全体职工", 20),
        (9, "金秋助学", "", None),
    ]
    assert [(s.heading, s.body) for s in view.sections] == [("指导思想", "以职工为中心。")]
    assert audit_of(world, plan_id) == ["create"]


def test_a_page_needs_a_login(client: TestClient) -> None:
    answer = client.get("/plans/new")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fplans%2Fnew"


def test_invalid_fields_are_shown_next_to_them_and_nothing_is_written(
    world: Runtime, client: TestClient
) -> None:
    csrf = sign_in(client, DRAFTER)
    page = client.get("/plans/new").text
    fields = new_plan_form(
        csrf,
        page,
        title="",
        year="二〇二七",
        goal_target=["很多", "0"],
        item_due_day=["", "32", ""],
    )
    answer = post(client, "/plans/new", fields)

    assert answer.status_code == 422
    errors = {
        k: html.unescape(v) for k, v in re.findall(r'id="error-([^"]+)">([^<]*)<', answer.text)
    }
    assert set(errors) == {"title", "year", "goal.0.target", "goal.1.target", "item.1.due_day"}
    assert "不能为空" in errors["title"]
    assert "必须是整数" in errors["year"]
    assert "必须是数字，例如 300 或 98.5，现为 '很多'" in errors["goal.0.target"]
    assert "目标值 0" in errors["goal.1.target"]
    assert "必须在 1 到 31 之间" in errors["item.1.due_day"]
    assert "未保存" in answer.text
    # The form comes back as it was typed, with the problems marked.
    assert 'value="很多" aria-invalid="true"' in answer.text
    assert 'value="二〇二七"' in answer.text
    assert "职工健康体检" in answer.text
    assert list_plans(world, actor=DRAFTER) == []


def test_a_blank_row_is_no_row_but_a_half_filled_one_is_refused(
    world: Runtime, client: TestClient
) -> None:
    csrf = sign_in(client, DRAFTER)
    page = client.get("/plans/new").text
    fields = new_plan_form(
        csrf,
        page,
        goal_row=["g1", "g2", "g3"],
        goal_key=["members", "", "x"],
        goal_title=["发展新会员", "", ""],
        goal_target=["300", "", ""],
        goal_unit=["人", "", ""],
        goal_comparator=[">=", ">=", ">="],
        goal_allow_negative=["no", "no", "no"],
    )
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 422
    errors = dict(re.findall(r'id="error-([^"]+)">([^<]*)<', answer.text))
    assert set(errors) == {"goal.2.title", "goal.2.target", "goal.2.unit"}  # row 3, not row 2

    fields = new_plan_form(
        csrf,
        client.get("/plans/new").text,
        goal_row=["g1", "g2"],
        goal_key=["members", ""],
        goal_title=["发展新会员", ""],
        goal_target=["300", " "],
        goal_unit=["人", ""],
        goal_comparator=[">=", "<="],
        goal_allow_negative=["no", "yes"],
    )
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 303
    (plan, _), *_ = list_plans(world, actor=DRAFTER)
    assert [g.key for g in show_plan(world, plan_id=plan.id, actor=DRAFTER).goals] == ["members"]


def test_a_goal_left_without_a_key_gets_one(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    fields = new_plan_form(
        csrf,
        client.get("/plans/new").text,
        goal_row=["g1", "g2", "g3"],
        goal_key=["", "goal-1", " "],
        goal_title=["发展新会员", "开展活动", "建家"],
        goal_target=["300", "12", "1"],
        goal_unit=["人", "次", "个"],
        goal_comparator=[">=", ">=", ">="],
        goal_allow_negative=["no", "no", "no"],
    )
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 303
    (plan, _), *_ = list_plans(world, actor=DRAFTER)
    goals = show_plan(world, plan_id=plan.id, actor=DRAFTER).goals
    assert [(g.key, g.title) for g in goals] == [
        ("goal-2", "发展新会员"),
        ("goal-1", "开展活动"),
        ("goal-3", "建家"),
    ]


def test_the_services_refusal_is_shown_on_the_form(world: Runtime, client: TestClient) -> None:
    create_plan(world, spec=small_plan(), actor=DRAFTER)
    csrf = sign_in(client, DRAFTER)
    answer = post(client, "/plans/new", new_plan_form(csrf, client.get("/plans/new").text))
    assert answer.status_code == 409
    assert "已有" in text_of(answer.text)
    assert len(list_plans(world, actor=DRAFTER)) == 1

    answer = post(
        client,
        "/plans/new",
        new_plan_form(csrf, client.get("/plans/new").text, org="songshan-hospital"),
    )
    assert answer.status_code == 403
    assert len(list_plans(world, actor=OTHER_DRAFTER)) == 0


def test_a_double_submit_creates_one_plan(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    fields = new_plan_form(csrf, client.get("/plans/new").text)
    first = post(client, "/plans/new", fields)
    again = post(client, "/plans/new", fields)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(list_plans(world, actor=DRAFTER)) == 1


def test_each_form_shown_has_a_fresh_key(world: Runtime, client: TestClient) -> None:
    sign_in(client, DRAFTER)
    keys = {hidden(client.get("/plans/new").text, "key") for _ in range(3)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"owner": "chen-school"}, "owner"),
        ({"title": ["一", "二"]}, "title"),
        ({"goal_unit": ["人"]}, "goal"),  # a row without all its fields
        ({"key": "not-a-key"}, "key"),
    ],
)
def test_a_malformed_form_is_refused_naming_the_field(
    world: Runtime, client: TestClient, change: dict[str, str | list[str]], named: str
) -> None:
    csrf = sign_in(client, DRAFTER)
    fields = new_plan_form(csrf, client.get("/plans/new").text, **change)
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 422
    assert named in answer.text
    assert list_plans(world, actor=DRAFTER) == []


def test_an_unknown_query_parameter_is_refused(world: Runtime, client: TestClient) -> None:
    sign_in(client, DRAFTER)
    answer = client.get("/plans/new?org=county")
    assert answer.status_code == 422
    assert "org" in answer.text


def test_a_forged_or_missing_csrf_token_writes_nothing(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    fields = new_plan_form(csrf, client.get("/plans/new").text)
    assert post(client, "/plans/new", {**fields, "csrf_token": "forged"}).status_code == 403
    del fields["csrf_token"]
    assert post(client, "/plans/new", fields).status_code == 403
    assert list_plans(world, actor=DRAFTER) == []


def test_rows_are_added_and_removed_without_script(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    fields = new_plan_form(csrf, client.get("/plans/new").text, add="goal")
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 200
    assert answer.text.count('name="goal_key"') == 3
    assert 'value="发展新会员"' in answer.text  # what was typed stays

    fields = new_plan_form(csrf, answer.text, remove="item:i2")
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 200
    assert answer.text.count('name="item_title"') == 2
    assert "职工健康体检" not in answer.text
    assert "金秋助学" in answer.text
    assert list_plans(world, actor=DRAFTER) == []


def test_htmx_gets_an_empty_row_to_append(world: Runtime, client: TestClient) -> None:
    sign_in(client, DRAFTER)
    page = client.get("/plans/new").text
    assert 'hx-get="/plans/rows/item"' in page

    row = client.get("/plans/rows/item", headers={"HX-Request": "true"})
    assert row.status_code == 200
    assert "<html" not in row.text
    assert row.text.count('name="item_title" value=""') == 1
    assert '<option value="12">12月</option>' in row.text
    assert client.get("/plans/rows/secret").status_code == 404


def test_script_in_a_field_is_shown_escaped(world: Runtime, client: TestClient) -> None:
    csrf = sign_in(client, DRAFTER)
    script = "<script>alert(1)</script>"
    fields = new_plan_form(csrf, client.get("/plans/new").text, title=script, year="x")
    answer = post(client, "/plans/new", fields)
    assert answer.status_code == 422
    assert script not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


# --------------------------------------------------------------------------- editing a draft


def edit_form(csrf: str, page: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """The edit form of `small_plan()` as shown in `page`, with `changes`."""
    fields: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "key": hidden(page, "key"),
        "version": hidden(page, "version"),
        "title": "改过的计划",
        "section_row": ["s1"],
        "section_heading": ["指导思想"],
        "section_body": ["以职工为中心，扎实推进各项工作。"],
        "goal_row": ["g1", "g2"],
        "goal_key": ["goal-1", "goal-2"],
        "goal_title": ["目标1", "目标2"],
        "goal_target": ["100", "200"],
        "goal_unit": ["人", "人"],
        "goal_comparator": [">=", ">="],
        "goal_allow_negative": ["no", "no"],
        "item_row": ["i1", "i3"],
        "item_month": ["1", "3"],
        "item_title": ["1月活动", "3月活动"],
        "item_detail": ["", ""],
        "item_due_day": ["", ""],
    }
    fields.update(changes)
    return fields


def test_a_returned_draft_is_edited_in_the_form(world: Runtime, client: TestClient) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    act(world, plan_id=plan_id, trigger="submit", actor=DRAFTER)
    act(world, plan_id=plan_id, trigger="return", actor=REVIEWER, comment="请补充<b>体检</b>安排")
    csrf = sign_in(client, DRAFTER)

    page = client.get(f"/plans/{plan_id}/edit")
    assert page.status_code == 200
    assert "请补充&lt;b&gt;体检&lt;/b&gt;安排" in page.text  # why it came back, escaped
    assert 'value="zishan-middle-school Plan' not in page.text
    assert page.text.count('name="item_title"') == 3
    assert 'name="org"' not in page.text  # fixed once the plan exists

    answer = post(client, f"/plans/{plan_id}/edit", edit_form(csrf, page.text))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/plans/{plan_id}"
    view = show_plan(world, plan_id=plan_id, actor=DRAFTER)
    assert view.plan.title == "改过的计划"
    assert [i.title for i in view.items] == ["1月活动", "3月活动"]
    assert audit_of(world, plan_id)[-1] == "edit"


def test_a_stale_edit_is_refused_and_writes_nothing(world: Runtime, client: TestClient) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/edit").text
    other_tab = client.get(f"/plans/{plan_id}/edit").text
    first = post(client, f"/plans/{plan_id}/edit", edit_form(csrf, page))
    assert first.status_code == 303

    stale = post(client, f"/plans/{plan_id}/edit", edit_form(csrf, other_tab, title="又改了"))
    assert stale.status_code == 409
    assert "在您打开后已被他人修改" in text_of(stale.text)
    assert 'value="又改了"' in stale.text  # the form as typed, to copy from
    # The same page sent again with other values: its key was used.
    again = post(client, f"/plans/{plan_id}/edit", edit_form(csrf, page, title="再改"))
    assert again.status_code == 409
    assert "已经提交过" in text_of(again.text)
    assert show_plan(world, plan_id=plan_id, actor=DRAFTER).plan.title == "改过的计划"
    assert audit_of(world, plan_id) == ["create", "edit"]


def test_another_townships_plan_is_not_found(world: Runtime, client: TestClient) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    csrf = sign_in(client, OTHER_DRAFTER)
    assert client.get(f"/plans/{plan_id}/edit").status_code == 404
    answer = post(client, f"/plans/{plan_id}/edit", {"csrf_token": csrf})
    assert answer.status_code == 404
    assert client.get(f"/plans/{plan_id}/amend").status_code == 404
    assert audit_of(world, plan_id) == ["create"]


def test_a_plan_under_review_cannot_be_edited(world: Runtime, client: TestClient) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    act(world, plan_id=plan_id, trigger="submit", actor=DRAFTER)
    sign_in(client, DRAFTER)
    answer = client.get(f"/plans/{plan_id}/edit")
    assert answer.status_code == 422
    assert "镇工会审核" in answer.text


# --------------------------------------------------------------------------- amending items


def amend_form(csrf: str, page: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "key": hidden(page, "key"),
        "version": hidden(page, "version"),
        "item_row": ["i1", "i2", "i3", "i4"],
        "item_month": ["1", "2", "3", "6"],
        "item_title": ["1月活动", "2月活动", "3月活动", "6月职工运动会"],
        "item_detail": ["", "", "改期", "全体职工"],
        "item_due_day": ["", "", "15", ""],
    }
    fields.update(changes)
    return fields


def test_a_live_plans_items_are_amended(world: Runtime, client: TestClient) -> None:
    plan_id = live_plan(world)
    csrf = sign_in(client, DRAFTER)
    assert client.get(f"/plans/{plan_id}/edit").headers["location"] == f"/plans/{plan_id}/amend"
    page = client.get(f"/plans/{plan_id}/amend")
    assert page.status_code == 200
    assert 'name="goal_key"' not in page.text
    assert 'name="title"' not in page.text

    answer = post(client, f"/plans/{plan_id}/amend", amend_form(csrf, page.text))
    assert answer.status_code == 303
    view = show_plan(world, plan_id=plan_id, actor=DRAFTER)
    assert [(i.month, i.title, i.due_day) for i in view.items] == [
        (1, "1月活动", None),
        (2, "2月活动", None),
        (3, "3月活动", 15),
        (6, "6月职工运动会", None),
    ]
    assert audit_of(world, plan_id)[-1] == "amend"


def test_an_amendment_may_not_change_the_approved_parts(world: Runtime, client: TestClient) -> None:
    plan_id = live_plan(world)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/amend").text
    version = show_plan(world, plan_id=plan_id, actor=DRAFTER).plan.version
    answer = post(client, f"/plans/{plan_id}/amend", amend_form(csrf, page, title="新名字"))
    assert answer.status_code == 422
    assert "title" in answer.text
    twice = amend_form(csrf, page, item_month=["1"] * 4, item_title=["1月活动"] * 4)
    answer = post(client, f"/plans/{plan_id}/amend", twice)
    assert answer.status_code == 422
    assert 'id="error-item.1.title"' in answer.text
    assert show_plan(world, plan_id=plan_id, actor=DRAFTER).plan.version == version


def test_an_item_with_history_cannot_be_removed(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    plan_id = live_plan(world)
    from engine.service.reporting import report_item
    from engine.store.statuses import ItemStatus

    report_item(world, plan_id=plan_id, actor=DRAFTER, item_number=2, status=ItemStatus.DONE)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/amend").text
    fields = amend_form(
        csrf,
        page,
        item_row=["i1", "i3"],
        item_month=["1", "3"],
        item_title=["1月活动", "3月活动"],
        item_detail=["", ""],
        item_due_day=["", ""],
    )
    answer = post(client, f"/plans/{plan_id}/amend", fields)
    assert answer.status_code == 422
    assert "2月活动" in text_of(answer.text)
    assert len(show_plan(world, plan_id=plan_id, actor=DRAFTER).items) == 3


# --------------------------------------------------------------------------- the self-evaluation


def in_self_evaluation(rt: Runtime, clock: SimulatedClock) -> int:
    """A school plan (`small_plan`: goals goal-1 ≥ 100 人, goal-2 ≥ 200 人; items 1–3) at its
    self-evaluation."""
    plan_id = live_plan(rt)
    clock.set(dt.datetime(2027, 12, 1, 0, 1, tzinfo=TZ))
    assert [fired.error for fired in fire_due_timers(rt)] == [None]
    return plan_id


def report_fields(csrf: str, page: str, **values: str) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "key": hidden(page, "key"),
        "version": hidden(page, "version"),
    }
    fields.update(values)
    return fields


def test_item_statuses_are_reported_while_the_plan_is_carried_out(
    world: Runtime, client: TestClient
) -> None:
    plan_id = live_plan(world)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report")
    assert page.status_code == 200
    assert "goal_actual_" not in page.text  # goal actuals wait for the self-evaluation
    assert page.text.count('name="item_status_') == 3

    fields = report_fields(
        csrf, page.text, item_status_1="done", item_status_2="partly", item_note_2="场地受限"
    )
    answer = post(client, f"/plans/{plan_id}/report", fields)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/plans/{plan_id}"
    items = show_plan(world, plan_id=plan_id, actor=DRAFTER).items
    assert [(i.status, i.report_note) for i in items] == [
        ("done", None),
        ("partly", "场地受限"),
        (None, None),
    ]
    assert audit_of(world, plan_id)[-2:] == ["approve", "report_year_end"]  # one write

    # Sent twice, it reports once; shown again, what is reported is filled in.
    assert post(client, f"/plans/{plan_id}/report", fields).status_code == 303
    assert audit_of(world, plan_id).count("report_year_end") == 1
    shown = client.get(f"/plans/{plan_id}/report").text
    assert '<option value="partly" selected>部分完成</option>' in shown
    assert 'value="场地受限"' in shown


def test_the_self_evaluation_reports_goals_and_items(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    plan_id = in_self_evaluation(world, clock)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report")
    assert page.status_code == 200
    assert "目标1（目标 &gt;= 100 人）" in page.text

    fields = report_fields(
        csrf,
        page.text,
        item_status_1="done",
        item_status_2="done",
        item_status_3="not_done",
        item_note_3="疫情停办",
    )
    fields.update(
        {"goal_actual_goal-1": "120", "goal_actual_goal-2": "180.5", "goal_note_goal-2": "招聘推迟"}
    )
    answer = post(client, f"/plans/{plan_id}/report", fields)
    assert answer.status_code == 303
    view = show_plan(world, plan_id=plan_id, actor=DRAFTER)
    assert [(g.actual, g.actual_note) for g in view.goals] == [(120, None), (180.5, "招聘推迟")]
    assert [i.status for i in view.items] == ["done", "done", "not_done"]
    assert "submit_evaluation" in view.possible


def test_a_refused_self_evaluation_writes_nothing(
    world: Runtime, client: TestClient, clock: SimulatedClock
) -> None:
    plan_id = in_self_evaluation(world, clock)
    before = audit_of(world, plan_id)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report").text
    fields = report_fields(csrf, page, item_status_1="done", item_status_2="partly")
    fields.update({"goal_actual_goal-1": "很多", "goal_actual_goal-2": "-5"})
    answer = post(client, f"/plans/{plan_id}/report", fields)

    assert answer.status_code == 422
    errors = dict(re.findall(r'id="error-([^"]+)">([^<]*)<', answer.text))
    assert set(errors) == {"goal_actual_goal-1", "goal_actual_goal-2", "item_note_2"}
    assert "很多" in errors["goal_actual_goal-1"]
    assert "不能为负数" in errors["goal_actual_goal-2"]
    assert 'value="很多"' in answer.text
    assert '<option value="partly" selected>' in answer.text
    assert audit_of(world, plan_id) == before  # item 1 was fine, but nothing was written


def test_a_report_cannot_be_taken_back(world: Runtime, client: TestClient) -> None:
    plan_id = live_plan(world)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report").text
    post(client, f"/plans/{plan_id}/report", report_fields(csrf, page, item_status_1="done"))
    page = client.get(f"/plans/{plan_id}/report").text
    answer = post(client, f"/plans/{plan_id}/report", report_fields(csrf, page, item_status_1=""))
    assert answer.status_code == 422
    assert 'id="error-item_status_1"' in answer.text
    assert show_plan(world, plan_id=plan_id, actor=DRAFTER).items[0].status == "done"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"goal_actual_goal-1": "5"}, "goal_actual_goal-1"),
        ({"item_status_9": "done"}, "item_status_9"),
    ],
)
def test_a_report_field_the_plan_has_not_is_refused(
    world: Runtime, client: TestClient, values: dict[str, str], named: str
) -> None:
    plan_id = live_plan(world)
    before = audit_of(world, plan_id)
    csrf = sign_in(client, DRAFTER)
    page = client.get(f"/plans/{plan_id}/report").text
    answer = post(client, f"/plans/{plan_id}/report", report_fields(csrf, page, **values))
    assert answer.status_code == 422
    assert named in answer.text
    assert audit_of(world, plan_id) == before


def test_a_draft_takes_no_reports(world: Runtime, client: TestClient) -> None:
    plan_id = create_plan(world, spec=small_plan(), actor=DRAFTER).plan_id
    sign_in(client, DRAFTER)
    answer = client.get(f"/plans/{plan_id}/report")
    assert answer.status_code == 422
    assert "草稿" in answer.text


def test_only_the_owner_reports(world: Runtime, client: TestClient) -> None:
    plan_id = live_plan(world)
    sign_in(client, REVIEWER)
    assert client.get(f"/plans/{plan_id}/report").status_code == 422
    sign_in(client, OTHER_DRAFTER)
    assert client.get(f"/plans/{plan_id}/report").status_code == 404
