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

router = APIRouter(prefix="/api", dependencies=[Depends(common.only_declared_query)])
for module in (orgs, users, templates, plans, actions, inbox, reports, reminders):
    router.include_router(module.router)
