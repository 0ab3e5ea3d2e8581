"""待我审批, the home page (`/`): the open steps the caller may act on now, overdue first, with the
countersign progress of a countersigned step ("1/2 已同意") and escalated steps marked; filters by
state, township and year (a GET form, which htmx sends to swap only the list; empty means any);
and, for drafters, their plans that were returned to them with the reason.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.core.errors import ActionRefused
from engine.core.i18n import N_
from engine.core.limits import MAX_ROW_ID
from engine.http.action_titles import action_title
from engine.http.auth import PageCaller, runtime_of
from engine.http.pages.fields import only_known, whole_number
from engine.http.pages.plans import local_time
from engine.http.rendering import render
from engine.service import inbox as inbox_service
from engine.service.inbox_choices import inbox_choices

router = APIRouter()
NO_SUCH_PAGE = N_("there is no page {page} of the inbox")

FILTERS = ("state", "township", "year", "page")
MAX_PAGE = MAX_ROW_ID // inbox_service.PAGE_SIZE


@router.get("/")
def inbox_page(request: Request, caller: PageCaller) -> Response:
    query = only_known(request.query_params.multi_items(), FILTERS)
    state = query.get("state", "").strip() or None
    township = query.get("township", "").strip() or None
    year = whole_number(query, "year")
    given = whole_number(query, "page")
    number = 1 if given is None else given
    if not 1 <= number <= MAX_PAGE:
        raise ActionRefused(NO_SUCH_PAGE, code="page.no_such_page", field="page", page=number)
    rt = runtime_of(request)
    page = inbox_service.inbox_page(
        rt,
        actor=caller.username,
        state=state,
        township=township,
        year=year,
        limit=inbox_service.PAGE_SIZE,
        offset=(number - 1) * inbox_service.PAGE_SIZE,
    )
    pages = max(1, -(-page.total // inbox_service.PAGE_SIZE))
    filters = {"state": state, "township": township, "year": year}
    context = {
        "entries": page.entries,
        "total": page.total,
        "page": number,
        "pages": pages,
        "page_link": lambda n: "/?" + urlencode({**_given(filters), "page": n}),
        "returned": inbox_service.returned_plans(rt, actor=caller.username),
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


def _given(filters: dict[str, str | int | None]) -> dict[str, str | int]:
    """The filters in use, for the links to the other pages of the same list."""
    return {name: value for name, value in filters.items() if value is not None}
