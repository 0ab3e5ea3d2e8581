"""The JSON API's user routes (under /api): an administrator's users (those of the organisations
of their realm: list, show, create, grant and revoke roles, deactivate, reset the password), and
`/api/me` for anyone. A non-administrator, and any user outside the realm, gets 404.

Taking a role away or deactivating hands the user's open tasks over first, in the service
(`leaving`); deactivating also ends their sessions and tokens. A password is never echoed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import Response
from pydantic import Field

from engine.core import limits
from engine.http.api.admin import ADMIN
from engine.http.api.common import Answer, Strict
from engine.http.api.documented import CODE, errors
from engine.http.auth import ApiCaller, runtime_of
from engine.service import admin_realm
from engine.service.passwords import MAX_LENGTH, MIN_LENGTH
from engine.store.people import DirectoryEntry

Username = Annotated[str, Path(pattern=CODE)]
RoleName = Annotated[str, Path(pattern=CODE)]

router = APIRouter(tags=["users"], responses=errors(400, 401, 404, 409, 422))


class UserAnswer(Answer):
    username: str
    name: str
    org: str = Field(description="the organisation's code")
    org_name: str
    email: str | None
    active: bool
    roles: list[str] = Field(description="in the order they were granted")


class NewUser(Strict):
    username: str = Field(pattern=CODE)
    name: str = Field(max_length=limits.USER_NAME)
    org: str = Field(pattern=CODE, description="an organisation of your realm")
    roles: list[str] = Field(default_factory=list, description="roles the templates define")
    email: str | None = Field(default=None, max_length=limits.EMAIL)
    password: str | None = Field(
        default=None,
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="an initial password (never echoed); without one the user cannot log in "
        "until it is reset",
    )


class RoleGrant(Strict):
    role: str = Field(pattern=CODE)


class NewPassword(Strict):
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


def user_answer(entry: DirectoryEntry) -> UserAnswer:
    person = entry.person
    return UserAnswer(
        username=person.username,
        name=person.name,
        org=entry.org.code,
        org_name=entry.org.name,
        email=person.email,
        active=person.active,
        roles=list(entry.roles),
    )


@router.get("/me", response_model=UserAnswer)
def me(request: Request, caller: ApiCaller) -> UserAnswer:
    """Who the token belongs to: username, name, organisation and roles."""
    return user_answer(admin_realm.own_entry(runtime_of(request), actor=caller.username))


@router.get("/users", dependencies=[ADMIN], response_model=list[UserAnswer])
def list_users(request: Request, caller: ApiCaller) -> list[UserAnswer]:
    """The users of your realm, active or not, in the order they were created."""
    entries = admin_realm.list_users(runtime_of(request), actor=caller.username)
    return [user_answer(entry) for entry in entries]


@router.get("/users/{username}", dependencies=[ADMIN], response_model=UserAnswer)
def show_user(request: Request, caller: ApiCaller, username: Username) -> UserAnswer:
    entry = admin_realm.show_user(runtime_of(request), actor=caller.username, username=username)
    return user_answer(entry)


@router.post(
    "/users", dependencies=[ADMIN], response_model=UserAnswer, status_code=status.HTTP_201_CREATED
)
def create_user(request: Request, caller: ApiCaller, body: NewUser) -> UserAnswer:
    """A new user of an organisation of your realm; 409 when the username is taken."""
    entry = admin_realm.create_user(
        runtime_of(request),
        actor=caller.username,
        username=body.username,
        name=body.name,
        org=body.org,
        roles=body.roles,
        email=body.email,
        password=body.password,
    )
    return user_answer(entry)


@router.post("/users/{username}/roles", dependencies=[ADMIN], response_model=UserAnswer)
def grant_role(
    request: Request, caller: ApiCaller, username: Username, body: RoleGrant
) -> UserAnswer:
    """Grant a role a loaded template defines; 409 when the user holds it already."""
    rt = runtime_of(request)
    admin_realm.grant_role(rt, actor=caller.username, username=username, role=body.role)
    return user_answer(admin_realm.show_user(rt, actor=caller.username, username=username))


@router.delete("/users/{username}/roles/{role}", dependencies=[ADMIN], response_model=UserAnswer)
def revoke_role(
    request: Request, caller: ApiCaller, username: Username, role: RoleName
) -> UserAnswer:
    """Take a role away; the user's open tasks for it are handed over first."""
    rt = runtime_of(request)
    admin_realm.revoke_role(rt, actor=caller.username, username=username, role=role)
    return user_answer(admin_realm.show_user(rt, actor=caller.username, username=username))


@router.post("/users/{username}/deactivate", dependencies=[ADMIN], response_model=UserAnswer)
def deactivate_user(request: Request, caller: ApiCaller, username: Username) -> UserAnswer:
    """Deactivate a user (never yourself): their sessions and tokens end, their open tasks are
    handed over, and no future task goes to them."""
    rt = runtime_of(request)
    admin_realm.deactivate_user(rt, actor=caller.username, username=username)
    return user_answer(admin_realm.show_user(rt, actor=caller.username, username=username))


@router.post(
    "/users/{username}/password",
    dependencies=[ADMIN],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
def reset_password(
    request: Request, caller: ApiCaller, username: Username, body: NewPassword
) -> Response:
    """Give the user a new password; their sessions end (they log in again with it)."""
    admin_realm.reset_password(
        runtime_of(request), actor=caller.username, username=username, password=body.password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
