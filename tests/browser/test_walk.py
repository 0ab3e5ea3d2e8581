"""A plan's year in a real browser, on a real `planflow serve --demo`, as its people click it.

The middle school's drafter submits the seeded draft; the township returns it with a reason; the
drafter sees the reason on 我的计划, edits the plan and resubmits; the township approves and both
county approvers countersign. The server is then started again at 1 December of the plan's year
(PLANFLOW_REHEARSAL_TIME, after the scheduler's cycle fired the year-end timer), the drafter
reports every goal and item and submits the self-evaluation, and the county assesses it. After
each step the database says where the plan is (the truth behind the page), and every page is
screenshot at 1280 and 390 px wide into test-artifacts/browser/; at 390 px no page may scroll
sideways, and no page may log a console error (a CSP violation is one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    ViewportSize,
    expect,
)

from engine.demo.seed import DEMO_PASSWORD
from engine.service.plan_views import list_plans, show_plan
from tests.browser.demo_server import DemoServer

pytestmark = pytest.mark.slow

WIDE: ViewportSize = {"width": 1280, "height": 900}
NARROW: ViewportSize = {"width": 390, "height": 844}
SUBMIT = 'button[type="submit"], button:not([type]), input[type="submit"]'
REASON = "请补充教职工健康体检安排，并明确新会员发展目标的时间节点"
EDITED = "（修订）"
# The pages the walk goes through (the plan's number aside): any route missing answers 404 even
# without a login, where a page that exists sends the visitor to /login first.
PAGES = ["/login", "/", "/plans", "/plans/1", "/plans/1/edit", "/plans/1/report"]


@dataclass
class Camera:
    """Numbered screenshots at both widths, and what the narrow width or the console got wrong."""

    folder: Path
    taken: int = 0
    overflowing: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def shoot(self, page: Page, name: str) -> None:
        self.taken += 1
        stem = f"{self.taken:02d}-{name}"
        page.screenshot(path=self.folder / f"{stem}-1280.png", full_page=True)
        page.set_viewport_size(NARROW)
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > NARROW["width"]:
            self.overflowing.append(f"{stem} ({page.url}): {wide} px wide")
        page.screenshot(path=self.folder / f"{stem}-390.png", full_page=True)
        page.set_viewport_size(WIDE)


@dataclass
class Official:
    """One person at their own browser (a context of their own: cookies are theirs)."""

    username: str
    context: BrowserContext
    page: Page
    camera: Camera

    def log_in(self) -> None:
        page = self.page
        page.goto("/login")
        self.camera.shoot(page, f"login-{self.username}")
        page.locator('input[name="username"]').fill(self.username)
        page.locator('input[name="password"]').fill(DEMO_PASSWORD)
        page.locator('input[name="password"]').press("Enter")
        page.wait_for_url(lambda url: "/login" not in url)

    def open_plan(self, plan_id: int, shot: str) -> None:
        self.page.goto(f"/plans/{plan_id}")
        expect(self.page.locator("body")).to_be_visible()
        self.camera.shoot(self.page, shot)

    def action_form(self, plan_id: int, trigger: str) -> Locator:
        return self.page.locator(f'form[action$="/plans/{plan_id}/actions/{trigger}"]')

    def act(
        self, plan_id: int, trigger: str, *, comment: str | None = None, score: str | None = None
    ) -> None:
        """Take an action on the plan's page (which must offer it) and land back there."""
        form = self.action_form(plan_id, trigger)
        expect(form).to_have_count(1)
        if comment is not None:
            form.locator('textarea[name="comment"]').fill(comment)
        if score is not None:
            form.locator('input[name="score"]').fill(score)
        form.locator(
            'button[type="submit"], button:not([type]), input[type="submit"]'
        ).first.click()
        self.page.wait_for_url(re.compile(rf"/plans/{plan_id}(\?.*)?$"))
        self.camera.shoot(self.page, f"{trigger}-by-{self.username}")

    def save(self, form: Locator) -> None:
        """Press the form's save button (保存)."""
        form.get_by_role("button", name="保存", exact=True).first.click()


@pytest.fixture
def camera(artifacts: Path) -> Camera:
    for old in artifacts.glob("*.png"):
        old.unlink()
    return Camera(artifacts)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    demo = DemoServer(tmp_path)
    demo.start()
    try:
        yield demo
        demo.stop()
    finally:
        demo.kill()


def test_a_plan_is_returned_resubmitted_countersigned_reported_and_assessed(
    browser: Browser, server: DemoServer, camera: Camera
) -> None:
    missing = [path for path in PAGES if server.status_of(path) == 404]
    assert not missing, f"pages the walk needs answered 404: {', '.join(missing)}"
    contexts: list[BrowserContext] = []

    def official(username: str) -> Official:
        context = browser.new_context(viewport=WIDE, locale="zh-CN", base_url=server.url)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: _console_error(camera, username, m))
        page.on("pageerror", lambda e: camera.console_errors.append(f"{username}: {e}"))
        person = Official(username, context, page, camera)
        person.log_in()
        return person

    rt = server.runtime()

    def state(plan_id: int) -> str:
        return show_plan(rt, plan_id=plan_id, actor="wang-county").plan.state

    try:
        [(plan, _)] = [(p, o) for p, o in list_plans(rt, actor="chen-school") if p.state == "draft"]
        assert plan.id is not None
        plan_id, year = plan.id, plan.year

        # The drafter submits the seeded draft from its page.
        chen = official("chen-school")
        camera.shoot(chen.page, "inbox-chen-school")
        chen.open_plan(plan_id, "draft-plan")
        chen.act(plan_id, "submit")
        assert state(plan_id) == "township_review"
        expect(chen.action_form(plan_id, "submit")).to_have_count(0)

        # The township finds it in 待我审批 and returns it with a reason.
        zhao = official("zhao-zishan")
        camera.shoot(zhao.page, "inbox-zhao-zishan")
        zhao.page.locator(f'a[href$="/plans/{plan_id}"]').first.click()
        zhao.page.wait_for_url(re.compile(rf"/plans/{plan_id}$"))
        camera.shoot(zhao.page, "plan-in-township-review")
        zhao.act(plan_id, "return", comment=REASON)
        assert state(plan_id) == "draft"

        # The drafter sees why on 我的计划, edits the plan and resubmits it.
        chen.page.goto("/plans")
        expect(chen.page.locator("body")).to_contain_text(REASON)
        camera.shoot(chen.page, "my-plans-returned")
        chen.open_plan(plan_id, "returned-plan")
        chen.page.locator(f'a[href$="/plans/{plan_id}/edit"]').click()
        chen.page.wait_for_url(re.compile(rf"/plans/{plan_id}/edit$"))
        title = chen.page.locator('input[name="title"]')
        title.fill(title.input_value() + EDITED)
        camera.shoot(chen.page, "edit-plan")
        chen.save(chen.page.locator("form", has=title))
        chen.page.wait_for_url(re.compile(rf"/plans/{plan_id}(\?.*)?$"))
        assert show_plan(rt, plan_id=plan_id, actor="chen-school").plan.title.endswith(EDITED)
        chen.act(plan_id, "submit")
        assert state(plan_id) == "township_review"

        # Township approval, then the county's countersign: one signature is not enough.
        zhao.open_plan(plan_id, "resubmitted-plan")
        zhao.act(plan_id, "approve")
        assert state(plan_id) == "county_approval"
        wang = official("wang-county")
        wang.open_plan(plan_id, "county-approval")
        wang.act(plan_id, "approve")
        assert state(plan_id) == "county_approval"
        expect(wang.action_form(plan_id, "approve")).to_have_count(0)
        li = official("li-county")
        li.open_plan(plan_id, "countersign-second")
        li.act(plan_id, "approve")
        assert state(plan_id) == "executing"
    finally:
        for context in contexts:
            context.close()
        contexts.clear()

    # The year end: the scheduler's cycle at 1 December fires the timer; the server comes back
    # at that moment (a rehearsal), and everyone logs in again.
    server.stop()
    server.rehearsal_time = f"{year}-12-01T09:00"
    server.planflow("cycle", "run")
    assert state(plan_id) == "self_evaluation"
    server.start()
    try:
        chen = official("chen-school")
        chen.open_plan(plan_id, "self-evaluation-plan")
        chen.page.locator(f'a[href$="/plans/{plan_id}/report"]').click()
        chen.page.wait_for_url(re.compile(rf"/plans/{plan_id}/report$"))
        view = show_plan(rt, plan_id=plan_id, actor="chen-school")
        report = chen.page.locator(f'form[action$="/plans/{plan_id}/report"]')
        for goal in view.goals:  # each goal met: its target as the actual
            report.locator(f'[name="goal_actual_{goal.key}"]').fill(f"{goal.target:g}")
        for item in view.items:
            report.locator(f'select[name="item_status_{item.position}"]').select_option("done")
        camera.shoot(chen.page, "self-evaluation-report")
        chen.save(report)
        chen.page.wait_for_url(re.compile(rf"/plans/{plan_id}(/report)?(\?.*)?$"))
        reported = show_plan(rt, plan_id=plan_id, actor="chen-school")
        assert [g.actual for g in reported.goals] == [g.target for g in view.goals]
        assert {i.status for i in reported.items} == {"done"}
        chen.open_plan(plan_id, "reported-plan")
        chen.act(plan_id, "submit_evaluation")
        assert state(plan_id) == "county_assessment"

        wang = official("wang-county")
        wang.open_plan(plan_id, "assessment")
        wang.act(plan_id, "assess", comment="全年计划落实较好", score="95")
        closed = show_plan(rt, plan_id=plan_id, actor="wang-county").plan
        assert (closed.state, closed.assessment_score) == ("closed", 95)
    finally:
        for context in contexts:
            context.close()
        rt.database.dispose()

    assert not camera.overflowing, "pages scroll sideways at 390 px:\n" + "\n".join(
        camera.overflowing
    )
    assert not camera.console_errors, "\n".join(camera.console_errors)
    assert camera.taken >= 28


def _console_error(camera: Camera, username: str, message: ConsoleMessage) -> None:
    if message.type == "error":
        camera.console_errors.append(f"{username} at {message.location}: {message.text}")
