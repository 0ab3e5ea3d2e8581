"""The administrators' organisation page: the tree of the organisations they administer (their own
and everything below it), and a form to create one under any of them."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from engine.core.errors import PlanflowError
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
from engine.service.admin_realm import OrgEntry
from engine.service.callers import Caller
from engine.service.runtime import Runtime

router = APIRouter(prefix="/admin/orgs")

FIELDS = ("code", "name", "parent")
DONE = {"created": "组织已创建。"}


@dataclass(frozen=True)
class TreeNode:
    entry: OrgEntry
    children: tuple[TreeNode, ...]


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@router.get("")
def org_tree(request: Request, caller: AdminCaller) -> Response:
    flash = query_value(request, {"done": DONE}).get("done")
    return _page(request, caller, flash=flash)


@router.post("")
async def create_org(request: Request, caller: AdminFormCaller) -> Response:
    values, _ = await form_fields(request, text=FIELDS)
    form = {name: values.get(name, "").strip() for name in FIELDS}
    try:
        admin_realm.create_org(
            _rt(request),
            actor=caller.username,
            code=form["code"],
            name=form["name"],
            parent=form["parent"],
        )
    except PlanflowError as error:
        field = error.fields.get("field")
        return _page(
            request,
            caller,
            form=form,
            error=in_chinese(error),
            field=field if field in FIELDS else None,
            status=status_of(error),
        )
    return RedirectResponse("/admin/orgs?done=created", status_code=303)


def _page(
    request: Request,
    caller: Caller,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    flash: str | None = None,
    status: int = 200,
) -> Response:
    entries = admin_realm.list_orgs(_rt(request), actor=caller.username)
    return render(
        request,
        "admin/orgs.html",
        {
            "tree": _tree(entries),
            "entries": entries,
            "form": form or {"code": "", "name": "", "parent": ""},
            "error": error,
            "field": field,
            "flash": flash,
        },
        caller=caller,
        status_code=status,
    )


def _tree(entries: list[OrgEntry]) -> list[TreeNode]:
    """The realm as a forest: the administrator's own organisation at the root."""
    codes = {entry.org.code for entry in entries}
    below: dict[str | None, list[OrgEntry]] = {}
    for entry in entries:
        below.setdefault(entry.parent if entry.parent in codes else None, []).append(entry)

    def node(entry: OrgEntry) -> TreeNode:
        return TreeNode(entry, tuple(node(child) for child in below.get(entry.org.code, [])))

    return [node(root) for root in below.get(None, [])]
