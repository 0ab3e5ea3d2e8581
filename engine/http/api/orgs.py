"""The JSON API's organisation routes (under /api), for administrators: the organisations of
their realm (their own and everything below it), one of them, and a new one under any of them.
Anyone else, and any organisation outside the realm, gets 404 (`admin_realm`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import Field

from engine.core import limits
from engine.http.api.admin import ADMIN
from engine.http.api.common import Answer, Strict
from engine.http.api.documented import CODE, errors
from engine.http.auth import ApiCaller, runtime_of
from engine.service import admin_realm
from engine.service.admin_realm import OrgEntry

router = APIRouter(
    prefix="/orgs",
    tags=["organisations"],
    responses=errors(400, 401, 404, 409, 422),
    dependencies=[ADMIN],
)


class OrgAnswer(Answer):
    code: str
    name: str
    parent: str | None = Field(
        description="the parent's code; null at the root (or above the administrator's realm "
        "for their own organisation, which it names all the same)"
    )


class NewOrg(Strict):
    code: str = Field(pattern=CODE, description="lowercase letters, digits, '-' or '_'")
    name: str = Field(max_length=limits.ORG_NAME)
    parent: str = Field(pattern=CODE, description="an organisation of your realm")


def org_answer(entry: OrgEntry) -> OrgAnswer:
    return OrgAnswer(code=entry.org.code, name=entry.org.name, parent=entry.parent)


@router.get("", response_model=list[OrgAnswer])
def list_orgs(request: Request, caller: ApiCaller) -> list[OrgAnswer]:
    """The organisations of your realm, each with its parent's code, parents before children."""
    entries = admin_realm.list_orgs(runtime_of(request), actor=caller.username)
    return [org_answer(entry) for entry in entries]


@router.get("/{code}", response_model=OrgAnswer)
def show_org(
    request: Request, caller: ApiCaller, code: Annotated[str, Path(pattern=CODE)]
) -> OrgAnswer:
    entry = admin_realm.show_org(runtime_of(request), actor=caller.username, code=code)
    return org_answer(entry)


@router.post("", response_model=OrgAnswer, status_code=status.HTTP_201_CREATED)
def create_org(request: Request, caller: ApiCaller, body: NewOrg) -> OrgAnswer:
    """A new organisation under `parent`; 409 when the code is taken."""
    entry = admin_realm.create_org(
        runtime_of(request),
        actor=caller.username,
        code=body.code,
        name=body.name,
        parent=body.parent,
    )
    return org_answer(entry)
