"""The plan pages: 我的计划 (`/plans`, the plans a drafter owns, returned ones with the reason), the
plan page (`/plans/{id}`: sections, goals, the 12-month calendar with its reminders, the history,
the workflow diagram and the actions this user may take now) and acting on a plan
(`POST /plans/{id}/actions/{trigger}`).

An action form carries the plan's version (a stale one is refused: someone acted first) and a
fresh idempotency key (a second submit of the same form does not act twice). After acting the
browser goes back to the plan page (303) with `?done=trigger`, which the page confirms; a refused
action shows the page again with the reason and what was typed.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.core.errors import ActionRefused, NotFound, PlanflowError
from engine.core.i18n import N_, use_language
from engine.http.action_titles import ACTION_TITLES, action_title
from engine.http.auth import CSRF_FIELD, FormCaller, PageCaller, runtime_of
from engine.http.diagram import workflow_svg
from engine.http.errors import status_of
from engine.http.pages.errors import PAGE_LANGUAGE
from engine.http.pages.fields import number, only_known, whole_number
from engine.http.rendering import render
from engine.service.actions import act
from engine.service.callers import Caller
from engine.service.my_plans import my_plans
from engine.service.plan_page import PlanPage, goal_met, plan_page
from engine.service.possible import EDIT, REPORT_GOAL, REPORT_ITEM
from engine.service.timezones import plan_timezone
from engine.store.plan_content import Item

router = APIRouter()

ACTION_FIELDS = (CSRF_FIELD, "version", "idempotency_key", "comment", "score")
FORM_KEY = re.compile(r"[0-9a-f]{32}")  # the idempotency key a rendered form carries (uuid4 hex)
INCOMPLETE = N_("the form is incomplete (no '{name}'); reload the page and try again")


@router.get("/plans")
def plans_page(request: Request, caller: PageCaller) -> Response:
    query = only_known(request.query_params.multi_items(), ("year",))
    year = whole_number(query, "year")
    rt = runtime_of(request)
    plans = my_plans(rt, actor=caller.username, year=year)
    return render(
        request,
        "plans.html",
        {"plans": plans, "year": year, "local_time": local_time(rt.default_timezone)},
        caller=caller,
    )


@router.get("/plans/{plan_id:int}")
def plan_view(request: Request, plan_id: int, caller: PageCaller) -> Response:
    query = only_known(request.query_params.multi_items(), ("done",))
    page = plan_page(runtime_of(request), plan_id=plan_id, actor=caller.username)
    return _render_plan(request, caller, page, done=query.get("done"))


@router.post("/plans/{plan_id:int}/actions/{trigger}")
async def plan_action(request: Request, plan_id: int, trigger: str, caller: FormCaller) -> Response:
    rt = runtime_of(request)
    form = only_known((await request.form()).multi_items(), ACTION_FIELDS)
    comment = form.get("comment", "").strip() or None
    try:
        version = whole_number(form, "version")
        key = form.get("idempotency_key", "")
        for name, missing in (
            ("version", version is None),
            ("idempotency_key", not FORM_KEY.fullmatch(key)),
        ):
            if missing:
                raise ActionRefused(INCOMPLETE, code="page.form_incomplete", field=name, name=name)
        score = number(form, "score")
        await run_in_threadpool(
            act,
            rt,
            plan_id=plan_id,
            trigger=trigger,
            actor=caller.username,
            comment=comment,
            score=score,
            idempotency_key=key,
            expected_version=version,
        )
    except NotFound:
        raise
    except PlanflowError as error:
        page = await run_in_threadpool(plan_page, rt, plan_id=plan_id, actor=caller.username)
        with use_language(PAGE_LANGUAGE):
            message = error.message
        refused = {
            "trigger": trigger,
            "code": error.code,
            "message": message,
            "comment": form.get("comment", ""),
            "score": form.get("score", ""),
        }
        return _render_plan(request, caller, page, refused=refused, status=status_of(error))
    return RedirectResponse(f"/plans/{plan_id}?done={trigger}", status_code=303)


def _render_plan(
    request: Request,
    caller: Caller,
    page: PlanPage,
    *,
    done: str | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    view = page.view
    actions = []
    for trigger in view.possible:
        transition = page.transition(trigger)
        if transition is not None:
            actions.append({"trigger": trigger, "transition": transition, "key": uuid.uuid4().hex})
    timezone = plan_timezone(runtime_of(request), page.template)
    context = {
        "page": page,
        "view": view,
        "plan": view.plan,
        "template": page.template,
        "actions": actions,
        "may_edit": EDIT in view.possible,
        "may_report": REPORT_ITEM in view.possible or REPORT_GOAL in view.possible,
        "items_live": page.template.states[view.plan.state].items_live,
        "months": _months(page),
        "goal_met": goal_met,
        "action_title": action_title,
        "diagram": workflow_svg(page.template, view.plan.state),
        "flash": f"已{action_title(done)}。" if done and _known_done(page, done) else None,
        "refused": refused,
        "local_time": local_time(timezone),
    }
    return render(request, "plan.html", context, caller=caller, status_code=status)


def _known_done(page: PlanPage, done: str) -> bool:
    """Whether `?done=` names something this plan's pages do (a trigger of its template, or one
    of the forms' writes): the confirmation must not say whatever a crafted link puts there."""
    return done in ACTION_TITLES or any(t.trigger == done for t in page.template.transitions)


def _months(page: PlanPage) -> list[tuple[int, list[tuple[int, Item]]]]:
    """The twelve months of the plan's year, each with its items and their numbers (1, 2, … in
    plan order, as `report item` counts them)."""
    by_month: dict[int, list[tuple[int, Item]]] = {month: [] for month in range(1, 13)}
    for position, item in enumerate(page.view.items, 1):
        by_month.setdefault(item.month, []).append((position, item))
    return sorted(by_month.items())


def local_time(zone: ZoneInfo) -> Callable[[dt.datetime | None], str]:
    def local(moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return local
