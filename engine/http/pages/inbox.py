"""待我审批, the home page (`/`): the open steps the caller may act on now, overdue first, with the
countersign progress of a countersigned step ("1/2 已同意") and escalated steps marked; filters by
state, township and year (a GET form, which htmx sends to swap only the list; empty means any);
and, for drafters, their plans that were returned to them with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.http.action_titles import action_title
from engine.http.auth import PageCaller, runtime_of
from engine.http.pages.fields import only_known, whole_number
from engine.http.pages.plans import local_time
from engine.http.rendering import render
from engine.service.inbox import inbox, returned_plans
from engine.service.inbox_choices import inbox_choices

router = APIRouter()

FILTERS = ("state", "township", "year")


@router.get("/")
def inbox_page(request: Request, caller: PageCaller) -> Response:
    query = only_known(request.query_params.multi_items(), FILTERS)
    state = query.get("state", "").strip() or None
    township = query.get("township", "").strip() or None
    year = whole_number(query, "year")
    rt = runtime_of(request)
    entries = inbox(rt, actor=caller.username, state=state, township=township, year=year)
    context = {
        "entries": entries,
        "returned": returned_plans(rt, actor=caller.username),
        "choices": inbox_choices(rt, actor=caller.username),
        "chosen": {"state": state, "township": township, "year": year},
        "local_time": local_time(rt.default_timezone),
        "action_title": action_title,
    }
    # The filter form, sent by htmx, swaps only the list of tasks (without JS it loads the page).
    partial = (
        request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "tasks"
    )
    return render(request, "inbox.html", context, caller=caller, block="tasks" if partial else None)
