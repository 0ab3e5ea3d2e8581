"""待我审批, the home page (`/`): the open steps the caller may act on now, overdue first, with the
countersign progress of a countersigned step and escalated steps marked; and, for drafters, their
plans that were returned to them with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.http.auth import PageCaller, runtime_of
from engine.http.pages.fields import only_known
from engine.http.pages.plans import local_time
from engine.http.rendering import render
from engine.service.inbox import inbox, returned_plans

router = APIRouter()


@router.get("/")
def inbox_page(request: Request, caller: PageCaller) -> Response:
    only_known(request.query_params.multi_items(), ())
    rt = runtime_of(request)
    entries = inbox(rt, actor=caller.username)
    returned = returned_plans(rt, actor=caller.username)
    context = {
        "entries": entries,
        "returned": returned,
        "local_time": local_time(rt.default_timezone),
    }
    return render(request, "inbox.html", context, caller=caller)
