"""The JSON API's reminder routes (under /api), for administrators: the reminders of their
realm's plans with their deliveries (filtered by status, plan and count, each filter honoured or
refused), and retrying one, or every dead one, audited with the administrator as the actor
(`admin_reminders`). Anyone else, and any reminder or plan outside the realm, gets 404."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from engine.http.api.admin import ADMIN
from engine.http.api.common import Answer
from engine.http.api.documented import ID_MAX, errors
from engine.http.auth import ApiCaller, runtime_of
from engine.service import admin_reminders
from engine.service.reminders import ReminderView, RetryOutcome
from engine.store.statuses import ReminderStatus

router = APIRouter(
    prefix="/reminders",
    tags=["reminders"],
    responses=errors(400, 401, 404, 409, 422, 503),
    dependencies=[ADMIN],
)


class DeliveryAnswer(Answer):
    id: int
    channel: str
    recipient: str = Field(description="a username")
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    sent_at: dt.datetime | None


class ItemRefAnswer(Answer):
    id: int
    month: int
    title: str


class TaskRefAnswer(Answer):
    id: int
    state: str
    state_title: str
    role: str


class ReminderAnswer(Answer):
    id: int
    plan_id: int
    org_name: str
    kind: str
    recipient_role: str
    fire_at: dt.datetime
    status: str
    attempts: int = Field(description="retries so far")
    last_error: str | None
    about: str
    item: ItemRefAnswer | None
    task: TaskRefAnswer | None
    deliveries: list[DeliveryAnswer]


class RetryAnswer(Answer):
    reminder_id: int
    plan_id: int
    from_status: str
    to_status: str
    deliveries: int = Field(description="deliveries sent again; 0 when planned again")
    reason: str | None = Field(description="why it had not gone out")
    error: str | None = Field(description="why it could not be retried (retry of all dead)")


def reminder_answer(view: ReminderView) -> ReminderAnswer:
    return ReminderAnswer(
        id=view.id,
        plan_id=view.plan_id,
        org_name=view.org_name,
        kind=view.kind,
        recipient_role=view.recipient_role,
        fire_at=view.fire_at,
        status=view.status,
        attempts=view.attempts,
        last_error=view.last_error,
        about=view.about,
        item=ItemRefAnswer.model_validate(view.item) if view.item is not None else None,
        task=TaskRefAnswer.model_validate(view.task) if view.task is not None else None,
        deliveries=[DeliveryAnswer.model_validate(d) for d in view.deliveries],
    )


def retry_answer(outcome: RetryOutcome) -> RetryAnswer:
    return RetryAnswer.model_validate(outcome)


@router.get("", response_model=list[ReminderAnswer])
def list_reminders(
    request: Request,
    caller: ApiCaller,
    status: Annotated[ReminderStatus | None, Query(description="only those in this status")] = None,
    plan_id: Annotated[
        int | None, Query(ge=1, le=ID_MAX, description="only those of this plan")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 200,
) -> list[ReminderAnswer]:
    """The reminders of your realm's plans by fire time (then id), with their deliveries."""
    views = admin_reminders.list_reminders(
        runtime_of(request),
        actor=caller.username,
        status=status.value if status is not None else None,
        plan_id=plan_id,
        limit=limit,
    )
    return [reminder_answer(view) for view in views]


@router.post("/retry-dead", response_model=list[RetryAnswer])
def retry_dead(request: Request, caller: ApiCaller) -> list[RetryAnswer]:
    """Retry every dead reminder of your realm, each on its own; one that could not be retried
    says why in `error`."""
    outcomes = admin_reminders.retry_dead(runtime_of(request), actor=caller.username)
    return [retry_answer(outcome) for outcome in outcomes]


@router.post("/{reminder_id}/retry", response_model=RetryAnswer)
def retry_reminder(
    request: Request, caller: ApiCaller, reminder_id: Annotated[int, Path(ge=1, le=ID_MAX)]
) -> RetryAnswer:
    """Send a dead, failed or missed reminder again at the next sweep; 422 for any other."""
    outcome = admin_reminders.retry_reminder(
        runtime_of(request), actor=caller.username, reminder_id=reminder_id
    )
    return retry_answer(outcome)
