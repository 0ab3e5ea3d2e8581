"""The administrators' user pages: the users of the organisations they administer with their
roles; one user's page to grant and revoke roles, reset the password and deactivate; and a form
to create a user. Each write is the service's (`admin_realm`), which hands a leaving user's open
tasks over in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from engine.core.errors import ActionRefused, PlanflowError
from engine.core.i18n import N_
from engine.http.errors import status_of
from engine.http.pages.admin_common import (
    AdminCaller,
    AdminFormCaller,
    form_fields,
    in_chinese,
    query_value,
)
from engine.http.rendering import render
from engine.service import admin_realm
from engine.service.callers import Caller
from engine.service.directory import ADMIN_ROLE
from engine.service.runtime import Runtime

router = APIRouter(prefix="/admin/users")

PASSWORDS_DIFFER = N_("the two passwords differ; nothing was changed")
ADMIN_TITLE = "管理员"  # the built-in role no template defines, as the pages name it
NEW_USER_FIELDS = ("username", "name", "org", "role")
DONE = {
    "created": "用户已创建。",
    "granted": "角色已授予。",
    "revoked": "角色已收回，该用户待办的任务已转交。",
    "deactivated": "用户已停用：其登录和令牌已失效，待办任务已转交。",
    "password": "密码已重置，该用户需用新密码重新登录。",
}


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _titles(rt: Runtime, caller: Caller) -> dict[str, str]:
    return {**admin_realm.role_titles(rt, actor=caller.username), ADMIN_ROLE: ADMIN_TITLE}


@router.get("")
def user_list(request: Request, caller: AdminCaller) -> Response:
    flash = query_value(request, {"done": DONE}).get("done")
    return _list(request, caller, flash=flash)


@router.post("")
async def create_user(request: Request, caller: AdminFormCaller) -> Response:
    values, _ = await form_fields(request, text=NEW_USER_FIELDS)
    form = {name: values.get(name, "").strip() for name in NEW_USER_FIELDS}
    try:
        admin_realm.create_user(
            _rt(request),
            actor=caller.username,
            username=form["username"],
            name=form["name"],
            org=form["org"],
            roles=[form["role"]] if form["role"] else [],
        )
    except PlanflowError as error:
        return _list(request, caller, form=form, error=error)
    return RedirectResponse(f"/admin/users/{form['username']}?done=created", status_code=303)


@router.get("/{username}")
def user_page(request: Request, caller: AdminCaller, username: str) -> Response:
    flash = query_value(request, {"done": DONE}).get("done")
    return _user(request, caller, username, flash=flash)


@router.post("/{username}/roles")
async def grant(request: Request, caller: AdminFormCaller, username: str) -> Response:
    values, _ = await form_fields(request, text={"role"})
    return _write(
        request,
        caller,
        username,
        "granted",
        lambda rt: admin_realm.grant_role(
            rt, actor=caller.username, username=username, role=values.get("role", "")
        ),
    )


@router.post("/{username}/roles/{role}/revoke")
async def revoke(request: Request, caller: AdminFormCaller, username: str, role: str) -> Response:
    await form_fields(request, text=())
    return _write(
        request,
        caller,
        username,
        "revoked",
        lambda rt: admin_realm.revoke_role(rt, actor=caller.username, username=username, role=role),
    )


@router.post("/{username}/deactivate")
async def deactivate(request: Request, caller: AdminFormCaller, username: str) -> Response:
    await form_fields(request, text=())
    return _write(
        request,
        caller,
        username,
        "deactivated",
        lambda rt: admin_realm.deactivate_user(rt, actor=caller.username, username=username),
    )


@router.post("/{username}/password")
async def reset_password(request: Request, caller: AdminFormCaller, username: str) -> Response:
    values, _ = await form_fields(request, text={"password", "password_again"})
    password = values.get("password", "")

    def reset(rt: Runtime) -> None:
        if password != values.get("password_again", ""):
            admin_realm.show_user(rt, actor=caller.username, username=username)  # 404 first
            raise ActionRefused(PASSWORDS_DIFFER, code="password.mismatch", field="password_again")
        admin_realm.reset_password(rt, actor=caller.username, username=username, password=password)

    return _write(request, caller, username, "password", reset)


def _write(
    request: Request,
    caller: Caller,
    username: str,
    done: str,
    write: Callable[[Runtime], object],
) -> Response:
    try:
        write(_rt(request))
    except PlanflowError as error:
        return _user(request, caller, username, error=error, form=done)
    return RedirectResponse(f"/admin/users/{username}?done={done}", status_code=303)


def _list(
    request: Request,
    caller: Caller,
    *,
    form: dict[str, str] | None = None,
    error: PlanflowError | None = None,
    flash: str | None = None,
) -> Response:
    rt = _rt(request)
    field = error.fields.get("field") if error is not None else None
    return render(
        request,
        "admin/users.html",
        {
            "entries": admin_realm.list_users(rt, actor=caller.username),
            "orgs": admin_realm.list_orgs(rt, actor=caller.username),
            "titles": _titles(rt, caller),
            "form": form or dict.fromkeys(NEW_USER_FIELDS, ""),
            "error": in_chinese(error) if error is not None else None,
            "field": field if field in NEW_USER_FIELDS else None,
            "flash": flash,
        },
        caller=caller,
        status_code=status_of(error) if error is not None else 200,
    )


def _user(
    request: Request,
    caller: Caller,
    username: str,
    *,
    error: PlanflowError | None = None,
    form: str | None = None,
    flash: str | None = None,
) -> Response:
    rt = _rt(request)
    entry = admin_realm.show_user(rt, actor=caller.username, username=username)
    titles = _titles(rt, caller)
    return render(
        request,
        "admin/user.html",
        {
            "entry": entry,
            "titles": titles,
            "grantable": [role for role in titles if role not in entry.roles],
            "error": in_chinese(error) if error is not None else None,
            "failed": form,  # which form the error belongs to
            "myself": username == caller.username,
            "flash": flash,
        },
        caller=caller,
        status_code=status_of(error) if error is not None else 200,
    )
