"""The JSON API under /api: bearer tokens only (`auth.api_caller`), strict input models, one
error shape (`errors.body_of`), no query parameter a route does not declare. Each module holds
the routes of one kind of object."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from engine.http.api import (
    actions,
    common,
    inbox,
    orgs,
    plans,
    reminders,
    reports,
    templates,
    users,
)
from engine.http.api.documented import errors

# Every route may answer these, in the one error shape (`documented.errors`); routes add others.
router = APIRouter(
    prefix="/api",
    dependencies=[Depends(common.only_declared_query)],
    responses=errors(400, 401, 404, 409, 422, 503),
)
for module in (orgs, users, templates, plans, actions, inbox, reports, reminders):
    router.include_router(module.router)
