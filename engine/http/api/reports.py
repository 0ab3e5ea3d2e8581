"""The JSON API's year-end report of a plan: `GET /api/plans/{id}/report` (each goal's target,
actual and whether it is met; each item's status and note; what may be reported now) and
`PUT /api/plans/{id}/report`, the report itself:

    {"goals": {"members": {"actual": 120, "note": "…"}},
     "items": [{"month": 3, "title": "…", "status": "partly", "note": "…"}]}

The whole report is one write (`year_end.report_year_end`): every line is recorded with one audit
row, or, if any line is refused, none is; the refusal names the line in `field`
(`goals.members.actual`, `items[1].note`). Goals and items not named stay as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints

from engine.http.api.common import Answer, Strict
from engine.http.api.preconditions import (
    ERRORS,
    WRITE_ERRORS,
    IdempotencyKey,
    IfMatch,
    expected_version,
    tag,
)
from engine.http.auth import ApiCaller, runtime_of
from engine.service.plan_page import goal_met
from engine.service.plan_views import PlanView, show_plan
from engine.service.possible import REPORT_GOAL, REPORT_ITEM
from engine.service.year_end import GoalReport, ItemReport, report_year_end
from engine.store.statuses import ItemStatus

router = APIRouter(tags=["reports"])

GoalKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class GoalLine(Strict):
    actual: float
    note: str | None = None


class ItemLine(Strict):
    month: int = Field(ge=1, le=12)
    title: str
    status: Literal["done", "partly", "not_done"]
    note: str | None = Field(default=None, description="required unless the item is done")


class ReportBody(Strict):
    goals: dict[GoalKey, GoalLine] = Field(default_factory=dict, description="by goal key")
    items: list[ItemLine] = Field(default_factory=list)


class GoalReportAnswer(Answer):
    title: str
    target: float
    unit: str
    comparator: str
    actual: float | None
    note: str | None
    met: bool | None
    reported_at: dt.datetime | None


class ItemReportAnswer(Answer):
    number: int
    month: int
    title: str
    status: str | None
    note: str | None
    reported_at: dt.datetime | None


class ReportAnswer(Answer):
    plan_id: int
    version: int
    state: str
    state_title: str
    goals_open: bool = Field(description="whether goal actuals may be reported now")
    items_open: bool = Field(description="whether item statuses may be reported now")
    goals: dict[str, GoalReportAnswer]
    items: list[ItemReportAnswer]


def report_answer(view: PlanView) -> ReportAnswer:
    return ReportAnswer(
        plan_id=view.plan.id,
        version=view.plan.version,
        state=view.plan.state,
        state_title=view.state_title,
        goals_open=REPORT_GOAL in view.possible,
        items_open=REPORT_ITEM in view.possible,
        goals={
            g.key: GoalReportAnswer(
                title=g.title,
                target=g.target,
                unit=g.unit,
                comparator=g.comparator,
                actual=g.actual,
                note=g.actual_note,
                met=goal_met(g),
                reported_at=g.reported_at,
            )
            for g in view.goals
        },
        items=[
            ItemReportAnswer(
                number=i.position,
                month=i.month,
                title=i.title,
                status=i.status,
                note=i.report_note,
                reported_at=i.reported_at,
            )
            for i in view.items
        ],
    )


@router.get("/plans/{plan_id}/report", response_model=ReportAnswer, responses=ERRORS)
def read_report(
    plan_id: int, request: Request, response: Response, caller: ApiCaller
) -> ReportAnswer:
    """The plan's year-end report so far; `ETag` its version."""
    answer = report_answer(show_plan(runtime_of(request), plan_id=plan_id, actor=caller.username))
    tag(response, answer.version)
    return answer


@router.put("/plans/{plan_id}/report", response_model=ReportAnswer, responses=WRITE_ERRORS)
def write_report(
    plan_id: int,
    body: ReportBody,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ReportAnswer:
    """Record the report, all of it in one write, or none of it."""
    rt = runtime_of(request)
    version = expected_version(if_match)
    report_year_end(
        rt,
        plan_id=plan_id,
        actor=caller.username,
        goals=[GoalReport(key, line.actual, line.note) for key, line in body.goals.items()],
        items=[
            ItemReport(line.month, line.title, ItemStatus(line.status), line.note)
            for line in body.items
        ],
        idempotency_key=idempotency_key,
        expected_version=version,
    )
    answer = report_answer(show_plan(rt, plan_id=plan_id, actor=caller.username))
    tag(response, answer.version)
    return answer
