"""The pages officials use: server-rendered Jinja2 (`engine.http.rendering`), htmx for partial
updates, Pico CSS; in Chinese. Reads depend on `auth.page_caller`, writes on `auth.csrf_checked`.
"""

from __future__ import annotations

from fastapi import APIRouter

from engine.http.pages import (
    admin_orgs,
    admin_templates,
    admin_users,
    forms,
    inbox,
    login,
    plans,
)

router = APIRouter(include_in_schema=False)
# `forms` before `plans`: its /plans/new must not be read as the plan page of a plan "new".
for module in (login, inbox, forms, plans, admin_templates, admin_orgs, admin_users):
    router.include_router(module.router)
