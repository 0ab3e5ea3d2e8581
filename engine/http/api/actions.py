"""The JSON API's action route: `POST /api/plans/{id}/actions/{trigger}`, a person's decision on
a plan (submit, approve, return, assess, …) through the service's `act`, in one transaction with
its audit row.

The body is `{"comment"?, "score"?}` (strict: `false` is not a number). `Idempotency-Key` makes a
repeated request answer as the first did, writing nothing again (a different body under the same
key is a conflict); `If-Match` names the version the decision was made on (a stale one is a
conflict). A refusal names what was wrong: `field` is `comment` or `score` when one is missing or
out of range, and a guard that said no is named in `fields.guard`.

An unknown trigger answers 422 (`action.not_allowed`, with what is possible now), not 404: the
route and the plan exist, and whether a trigger is possible depends on the plan's state (the same
word is possible in one state and not in the next), so it is a refused action, like a trigger of
another state, not a missing resource.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field

from engine.http.api.common import Answer, Strict
from engine.http.api.preconditions import (
    WRITE_ERRORS,
    IdempotencyKey,
    IfMatch,
    expected_version,
    tag,
)
from engine.http.auth import ApiCaller, runtime_of
from engine.service.actions import act
from engine.service.plan_views import write_outcome

router = APIRouter(tags=["actions"])

REPLAYED = "Idempotent-Replayed"  # "true" on the answer to a repeated request


class ActionBody(Strict):
    comment: str | None = Field(default=None, description="why; required where the step says so")
    score: float | None = Field(default=None, description="the assessment's score, where asked")


class Countersign(Answer):
    signed: int
    asked: int


class ActionResult(Answer):
    plan_id: int
    trigger: str
    from_state: str
    state: str = Field(description="the state the plan is in after the action")
    state_title: str
    version: int
    audit_id: int | None = Field(description="the audit entry this action wrote")
    countersign: Countersign | None = Field(
        description="while a countersigned step waits for more signatures: how many signed"
    )


@router.post(
    "/plans/{plan_id}/actions/{trigger}", response_model=ActionResult, responses=WRITE_ERRORS
)
def plan_action(
    plan_id: int,
    trigger: Annotated[str, Path(min_length=1, max_length=100)],
    request: Request,
    response: Response,
    caller: ApiCaller,
    body: ActionBody | None = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Fire `trigger` on the plan as the caller; 200 with the new state and version."""
    rt = runtime_of(request)
    version = expected_version(if_match)
    decision = body or ActionBody()
    done = act(
        rt,
        plan_id=plan_id,
        trigger=trigger,
        actor=caller.username,
        comment=decision.comment,
        score=decision.score,
        idempotency_key=idempotency_key,
        expected_version=version,
    )
    outcome = write_outcome(
        rt, plan_id=plan_id, version=done.version, state=done.to_state, actor=caller.username
    )
    detail = done.detail or {}
    pending = "signed" in detail and "of" in detail and done.from_state == done.to_state
    tag(response, done.version)
    if done.replayed:
        response.headers[REPLAYED] = "true"
    return ActionResult(
        plan_id=done.plan_id,
        trigger=done.action,
        from_state=done.from_state,
        state=done.to_state,
        state_title=outcome.state_title,
        version=done.version,
        audit_id=outcome.audit_id,
        countersign=Countersign(signed=detail["signed"], asked=detail["of"]) if pending else None,
    )
