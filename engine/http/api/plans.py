"""The JSON API's plan routes: create a plan from its plan file as JSON, show it whole, its
history, the listing with its filters, and the edit (a draft whole, a live plan's items).

A plan's body has the keys of a plan file (DESIGN.md §4). Its shape is checked by the strict model
below (so the OpenAPI schema states it), then the text goes through the plan file's own reader
(`engine.core.planfile.parse_plan`), so the API and a YAML file refuse the same things; each
problem is answered naming its field (`goals[1].target`). Every write goes through the service
(`create_plan`, `edit_plan`): one transaction with its audit row.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field
from starlette.requests import Request

from engine.core import limits
from engine.core.errors import PlanFileError, Problem
from engine.core.i18n import Message
from engine.core.planfile import PlanSpec, parse_plan
from engine.core.yamlsource import YamlPath, load_yaml
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
from engine.http.refusals import RequestRefused, field_of
from engine.service.plan_page import PlanPage, goal_met, plan_page
from engine.service.plan_views import (
    HistoryEntry,
    list_plans,
    org_in_reach,
    plan_history,
    state_titles,
)
from engine.service.plans import create_plan, edit_plan
from engine.service.possible import EDIT, REPORT_GOAL, REPORT_ITEM
from engine.service.runtime import Runtime
from engine.store.people import Org
from engine.store.plans import PlanRecord

router = APIRouter(tags=["plans"])

BODY = "body"  # how the plan file's problems name their source: the request's body

# ------------------------------------------------------------------------------ the plan file


def _text(longest: int) -> Any:
    """A text of the plan file: not blank, at most `longest` characters (as the file's)."""
    return Field(min_length=1, max_length=longest, pattern=r"\S")


# The schema states the plan file's limits (`engine.core.limits`), so a client reads them; what
# it cannot state (a duplicate goal key, a target every actual meets) the plan file's reader
# refuses, naming the field alike.
_TARGET = int(limits.MAX_TARGET)
Target = (
    Annotated[int, Field(ge=-_TARGET, le=_TARGET)]
    | Annotated[float, Field(ge=-_TARGET, le=_TARGET, allow_inf_nan=False)]
    | Annotated[str, Field(pattern=r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$", max_length=40)]
)


class TemplateRefBody(Strict):
    name: Annotated[str, _text(limits.TEMPLATE_NAME)]
    version: Annotated[int, Field(ge=1, le=limits.MAX_VERSION)] | None = None


class SectionBody(Strict):
    heading: Annotated[str, _text(limits.SECTION_HEADING)]
    body: Annotated[str, Field(max_length=limits.SECTION_BODY)] = ""


class GoalBody(Strict):
    key: Annotated[str, Field(max_length=limits.GOAL_KEY, pattern=r"^[a-z0-9_-]+$")]
    title: Annotated[str, _text(limits.GOAL_TITLE)]
    target: Target = Field(description='a number, or its text ("98.5")')
    unit: Annotated[str, _text(limits.GOAL_UNIT)]
    comparator: Literal[">=", "<=", "="] = ">="
    allow_negative: bool = False


class ItemBody(Strict):
    month: Annotated[int, Field(ge=1, le=12)]
    title: Annotated[str, _text(limits.ITEM_TITLE)]
    detail: Annotated[str, Field(max_length=limits.ITEM_DETAIL)] = ""
    due_day: Annotated[int, Field(ge=1, le=31)] | None = None


class PlanFileBody(Strict):
    """A plan file as JSON: the keys of DESIGN.md §4 (`template` is a name or {name, version})."""

    org: Annotated[str, _text(limits.ORG_CODE)]
    year: Annotated[int, Field(ge=2000, le=2100)]
    title: Annotated[str, _text(limits.PLAN_TITLE)]
    template: Annotated[str, _text(limits.TEMPLATE_NAME)] | TemplateRefBody
    sections: list[SectionBody] = Field(default_factory=list, max_length=limits.MAX_SECTIONS)
    goals: list[GoalBody] = Field(default_factory=list, max_length=limits.MAX_GOALS)
    items: list[ItemBody] = Field(default_factory=list, max_length=limits.MAX_ITEMS)


def plan_spec(body: PlanFileBody) -> PlanSpec:
    """The body read as a plan file is read, its problems each named by the field it is in."""
    text = json.dumps(body.model_dump(mode="json", exclude_unset=True), indent=1)
    try:
        return parse_plan(text, source=BODY)
    except PlanFileError as error:
        raise RequestRefused(_named_problems(text, error.problems)) from None


def _named_problems(text: str, problems: list[Problem]) -> list[tuple[str, Message]]:
    """Each located problem with the path of the field it points at.

    The text is written one value a line, so a (line, column) names exactly one value or key."""
    loaded = load_yaml(text, source=BODY)
    at: dict[tuple[int, int], YamlPath] = {}
    for located in (loaded.keys, loaded.values):
        for path, where in located.items():
            known = at.get((where.line, where.column))
            if known is None or len(path) > len(known):
                at[(where.line, where.column)] = path
    named = []
    for problem in problems:
        spot = (problem.line, problem.column)
        if spot not in at:  # between values: the nearest value written before it
            before = [known for known in at if known <= spot]
            spot = max(before) if before else (0, 0)
        path = at.get(spot, ())
        said = problem.text if problem.text is not None else Message(problem.message)
        named.append((field_of(path) or BODY, said))
    return named


# ------------------------------------------------------------------------------ the answers


class OrgAnswer(Answer):
    code: str
    name: str


class TemplateAnswer(Answer):
    name: str
    version: int


class SectionAnswer(Answer):
    heading: str
    body: str


class GoalAnswer(Answer):
    key: str
    title: str
    target: float
    unit: str
    comparator: str
    allow_negative: bool
    actual: float | None
    actual_note: str | None
    reported_at: dt.datetime | None
    met: bool | None = Field(description="whether the actual meets the target; null until reported")


class ReminderAnswer(Answer):
    id: int
    kind: str
    recipient_role: str
    fire_at: dt.datetime
    status: str


class ItemAnswer(Answer):
    number: int = Field(description="the item's position in the plan, 1-based")
    month: int
    title: str
    detail: str
    due_day: int | None
    status: str | None
    report_note: str | None
    reported_at: dt.datetime | None
    reminders: list[ReminderAnswer]


class ActionAnswer(Answer):
    trigger: str
    comment_required: bool
    score_required: bool
    score_min: float | None
    score_max: float | None


class AssessmentAnswer(Answer):
    score: float | None
    comment: str | None


class ReturnAnswer(Answer):
    at: dt.datetime
    by: str
    by_username: str | None
    from_state: str
    reason: str


class PlanSummary(Answer):
    id: int
    org: OrgAnswer
    year: int
    title: str
    template: TemplateAnswer
    state: str
    state_title: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PlanAnswer(PlanSummary):
    sections: list[SectionAnswer]
    goals: list[GoalAnswer]
    items: list[ItemAnswer]
    actions: list[ActionAnswer] = Field(description="what this caller may do now, and what it asks")
    may_edit: bool
    may_report_items: bool
    may_report_goals: bool
    assessment: AssessmentAnswer
    returned: ReturnAnswer | None = Field(description="why the plan waits in draft, if returned")


class PlanList(Answer):
    items: list[PlanSummary]
    limit: int
    offset: int


class HistoryAnswer(Answer):
    id: int
    at: dt.datetime
    actor: str
    actor_username: str | None
    action: str
    from_state: str | None
    to_state: str | None
    comment: str | None
    version: int
    detail: dict[str, Any] | None
    summary: str


class HistoryList(Answer):
    items: list[HistoryAnswer]


def summary_of(plan: PlanRecord, org: Org, state_title: str) -> PlanSummary:
    return PlanSummary(
        id=plan.id,
        org=OrgAnswer(code=org.code, name=org.name),
        year=plan.year,
        title=plan.title,
        template=TemplateAnswer(name=plan.template_name, version=plan.template_version),
        state=plan.state,
        state_title=state_title,
        version=plan.version,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def plan_answer(page: PlanPage) -> PlanAnswer:
    view = page.view
    plan = view.plan
    actions = []
    for trigger in view.possible:
        transition = page.transition(trigger)
        if transition is None:
            continue  # an owner's command (`plan edit`, the reports): told by the flags below
        scored = transition.score_required
        actions.append(
            ActionAnswer(
                trigger=trigger,
                comment_required=transition.comment_required,
                score_required=scored,
                score_min=transition.score_range.low if scored else None,
                score_max=transition.score_range.high if scored else None,
            )
        )
    returned = view.returned
    return PlanAnswer(
        **summary_of(plan, view.org, view.state_title).model_dump(),
        sections=[SectionAnswer(heading=s.heading, body=s.body) for s in view.sections],
        goals=[
            GoalAnswer(
                key=g.key,
                title=g.title,
                target=g.target,
                unit=g.unit,
                comparator=g.comparator,
                allow_negative=g.allow_negative,
                actual=g.actual,
                actual_note=g.actual_note,
                reported_at=g.reported_at,
                met=goal_met(g),
            )
            for g in view.goals
        ],
        items=[
            ItemAnswer(
                number=i.position,
                month=i.month,
                title=i.title,
                detail=i.detail,
                due_day=i.due_day,
                status=i.status,
                report_note=i.report_note,
                reported_at=i.reported_at,
                reminders=[
                    ReminderAnswer(
                        id=r.id,
                        kind=r.kind,
                        recipient_role=r.recipient_role,
                        fire_at=r.fire_at,
                        status=r.status,
                    )
                    for r in page.item_reminders.get(i.id, [])
                ],
            )
            for i in view.items
        ],
        actions=actions,
        may_edit=EDIT in view.possible,
        may_report_items=REPORT_ITEM in view.possible,
        may_report_goals=REPORT_GOAL in view.possible,
        assessment=AssessmentAnswer(score=plan.assessment_score, comment=plan.assessment_comment),
        returned=ReturnAnswer(
            at=returned.at,
            by=returned.by,
            by_username=returned.by_username,
            from_state=returned.from_state,
            reason=returned.reason,
        )
        if returned is not None
        else None,
    )


def history_answer(entry: HistoryEntry) -> HistoryAnswer:
    event = entry.event
    return HistoryAnswer(
        id=event.id,
        at=event.at,
        actor=entry.actor,
        actor_username=entry.actor_username,
        action=event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        comment=event.comment,
        version=event.plan_version,
        detail=entry.detail,
        summary=entry.summary,
    )


def shown(rt: Runtime, response: Response, plan_id: int, actor: str) -> PlanAnswer:
    """The plan as `actor` sees it now, its version in the `ETag`."""
    answer = plan_answer(plan_page(rt, plan_id=plan_id, actor=actor))
    tag(response, answer.version)
    return answer


# ------------------------------------------------------------------------------ the routes


@router.post("/plans", status_code=201, response_model=PlanAnswer, responses=WRITE_ERRORS)
def create(
    body: PlanFileBody,
    request: Request,
    response: Response,
    caller: ApiCaller,
    idempotency_key: IdempotencyKey = None,
) -> PlanAnswer:
    """Create a plan from its plan file; 201 with the plan, its `Location` and `ETag`. An
    organisation beyond the caller's reach is refused as an unknown one (404)."""
    rt = runtime_of(request)
    spec = plan_spec(body)
    org_in_reach(rt, actor=caller.username, code=spec.org)
    done = create_plan(
        rt, spec=spec, actor=caller.username, source=BODY, idempotency_key=idempotency_key
    )
    response.headers["Location"] = f"/api/plans/{done.plan_id}"
    return shown(rt, response, done.plan_id, caller.username)


@router.get("/plans", response_model=PlanList, responses=ERRORS)
def listing(
    request: Request,
    caller: ApiCaller,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    state: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    org: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    template: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PlanList:
    """The plans the caller's roles reach, newest first. `state` is a state's name or title,
    `org` an organisation's code (its plans and those below it), `template` a template's name;
    an unknown one (or an organisation beyond reach) is refused, never an empty list."""
    rt = runtime_of(request)
    rows = list_plans(
        rt,
        actor=caller.username,
        year=year,
        state=state,
        org=org,
        template=template,
        limit=limit,
        offset=offset,
    )
    titles = state_titles(rt, [plan for plan, _ in rows])
    return PlanList(
        items=[summary_of(plan, org_, titles[plan.id]) for plan, org_ in rows],
        limit=limit,
        offset=offset,
    )


@router.get("/plans/{plan_id}", response_model=PlanAnswer, responses=ERRORS)
def show(plan_id: int, request: Request, response: Response, caller: ApiCaller) -> PlanAnswer:
    """The plan whole, as the caller sees it, with what they may do now; `ETag` its version."""
    return shown(runtime_of(request), response, plan_id, caller.username)


@router.get("/plans/{plan_id}/history", response_model=HistoryList, responses=ERRORS)
def history(plan_id: int, request: Request, caller: ApiCaller) -> HistoryList:
    """The plan's audit trail, oldest first."""
    entries = plan_history(runtime_of(request), plan_id=plan_id, actor=caller.username)
    return HistoryList(items=[history_answer(entry) for entry in entries])


@router.put("/plans/{plan_id}", response_model=PlanAnswer, responses=WRITE_ERRORS)
def edit(
    plan_id: int,
    body: PlanFileBody,
    request: Request,
    response: Response,
    caller: ApiCaller,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> PlanAnswer:
    """Replace the plan's file: in draft all but its organisation, year and template; while it
    is carried out only its monthly items (a change to anything else is refused, naming it)."""
    rt = runtime_of(request)
    version = expected_version(if_match)
    spec = plan_spec(body)
    edit_plan(
        rt,
        plan_id=plan_id,
        spec=spec,
        actor=caller.username,
        idempotency_key=idempotency_key,
        expected_version=version,
    )
    return shown(rt, response, plan_id, caller.username)
