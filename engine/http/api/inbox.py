"""The JSON API's inbox: `GET /api/inbox`, the open steps the caller may act on now, overdue
first (the service's `inbox.inbox`), each with its plan, what the caller may do there and a
countersigned step's progress; and the caller's plans that were returned to them, with why.

Filters: `state` (a state's name or title), `township` (an organisation's code: its plans and
those below it) and `year`; an unknown state, or an organisation unknown or beyond reach (refused
alike), is an error naming it, never an empty list.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from engine.http.api.common import Answer
from engine.http.api.documented import ID_MAX
from engine.http.api.plans import OrgAnswer, ReturnAnswer
from engine.http.api.preconditions import ERRORS
from engine.http.auth import ApiCaller, runtime_of
from engine.service.inbox import (
    PAGE_SIZE,
    InboxEntry,
    ReturnedPlan,
    inbox_page,
    returned_plans,
)

router = APIRouter(tags=["inbox"])


class Countersign(Answer):
    signed: int = Field(description="signers who approved so far")
    asked: int = Field(description="signers asked")


class InboxItem(Answer):
    task_id: int
    plan_id: int
    title: str
    year: int
    org: OrgAnswer
    state: str
    state_title: str
    role: str = Field(description="the role the step is for")
    opened_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool
    escalated: bool = Field(description="the caller stands in for the step's own role")
    actions: list[str] = Field(description="the triggers the caller may use now")
    countersign: Countersign | None = Field(description="a countersigned step's progress")


class ReturnedItem(Answer):
    plan_id: int
    title: str
    year: int
    org: OrgAnswer
    state: str
    state_title: str
    returned: ReturnAnswer
    actions: list[str]


class InboxAnswer(Answer):
    items: list[InboxItem] = Field(description="this page's open steps")
    total: int = Field(description="open steps on every page")
    returned: list[ReturnedItem] = Field(description="the caller's plans sent back to them")


def _entry(entry: InboxEntry) -> InboxItem:
    task, plan = entry.task, entry.plan
    counted = entry.signed is not None and entry.asked is not None
    return InboxItem(
        task_id=task.id,
        plan_id=plan.id,
        title=plan.title,
        year=plan.year,
        org=OrgAnswer(code=entry.org.code, name=entry.org.name),
        state=plan.state,
        state_title=entry.state_title,
        role=task.role,
        opened_at=task.opened_at,
        due_at=task.due_at,
        overdue=entry.overdue,
        escalated=entry.escalated,
        actions=entry.triggers,
        countersign=Countersign(signed=entry.signed or 0, asked=entry.asked or 0)
        if counted
        else None,
    )


def _returned(entry: ReturnedPlan) -> ReturnedItem:
    note = entry.returned
    return ReturnedItem(
        plan_id=entry.plan.id,
        title=entry.plan.title,
        year=entry.plan.year,
        org=OrgAnswer(code=entry.org.code, name=entry.org.name),
        state=entry.plan.state,
        state_title=entry.state_title,
        returned=ReturnAnswer(
            at=note.at,
            by=note.by,
            by_username=note.by_username,
            from_state=note.from_state,
            reason=note.reason,
        ),
        actions=entry.actions,
    )


@router.get("/inbox", response_model=InboxAnswer, responses=ERRORS)
def my_inbox(
    request: Request,
    caller: ApiCaller,
    state: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    township: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="entries on this page")] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=ID_MAX, description="entries before this page")] = 0,
) -> InboxAnswer:
    """The caller's open steps, overdue first, then by due time: `limit` of them from `offset`,
    and how many there are in all (`total`)."""
    rt = runtime_of(request)
    page = inbox_page(
        rt,
        actor=caller.username,
        state=state,
        township=township,
        year=year,
        limit=limit,
        offset=offset,
    )
    returned = returned_plans(rt, actor=caller.username)
    return InboxAnswer(
        items=[_entry(entry) for entry in page.entries],
        total=page.total,
        returned=[_returned(r) for r in returned],
    )
