"""Organisations, users and role grants: who sits where and may do what.

Roles are granted only when a loaded template defines them. Taking a role away, or a person out
(deactivation), hands over their open tasks first: that is `leaving.py`, which builds on the plan
writes that build on this module. A deactivated user is refused wherever they are named as the
one acting (`find_user`, `find_user_with_roles`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.core import limits
from engine.core.errors import AlreadyExists, NotFound, PermissionDenied, PlanflowError
from engine.core.i18n import N_
from engine.core.limits import check_text
from engine.core.scope import candidate_orgs
from engine.core.template.model import Role
from engine.core.yamlschema import suggestion
from engine.service.runtime import Runtime
from engine.service.templates import workflow_for
from engine.store import Transaction, people
from engine.store.people import DirectoryEntry, Grant, Org, Person, role_holders_up
from engine.store.people import org_path as store_org_path
from engine.store.people import roles_of as store_roles_of
from engine.store.templates import all_templates

ROLES_LISTING = N_("roles the loaded templates define")  # in "did you mean" hints
# The one role no template defines: its holders administer the organisations, users and
# templates (in the pages and the API; the CLI is the operator's and needs no role). It takes
# part in no workflow: no task, signature or reminder goes to it.
ADMIN_ROLE = "admin"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _check_org_code(code: str) -> None:
    if not _CODE.match(code):
        raise PlanflowError(
            "organisation code {value!r} is not valid: use lowercase letters, digits, '-' or '_' "
            "(at most 64), starting with a letter or digit",
            code="input.invalid_code",
            field="code",
            value=code,
        )


def _check_username(username: str) -> None:
    if not _CODE.match(username):
        raise PlanflowError(
            "username {value!r} is not valid: use lowercase letters, digits, '-' or '_' "
            "(at most 64), starting with a letter or digit",
            code="input.invalid_code",
            field="username",
            value=username,
        )


def _check_role_name(role: str) -> None:
    if not _CODE.match(role):
        raise PlanflowError(
            "role {value!r} is not valid: use lowercase letters, digits, '-' or '_' "
            "(at most 64), starting with a letter or digit",
            code="input.invalid_code",
            field="role",
            value=role,
        )


def create_org(rt: Runtime, *, code: str, name: str, parent: str | None = None) -> Org:
    _check_org_code(code)
    check_text("organisation's name", name, limits.ORG_NAME)
    with rt.database.transaction() as tx:
        parent_id = find_org(tx, parent).id if parent else None
        org = people.insert_org(tx, code=code, name=name.strip() or code, parent_id=parent_id)
        if org is None:
            raise AlreadyExists("organisation {org!r} already exists", code="org.exists", org=code)
        return org


def create_user(
    rt: Runtime,
    *,
    username: str,
    name: str,
    org: str,
    roles: Iterable[str] = (),
    email: str | None = None,
    password_hash: str | None = None,
) -> Person:
    """Add a user, with their roles and (`password_hash`, from `passwords.hash_password`) their
    password, all in one transaction: nobody is left half made."""
    _check_username(username)
    check_text("user's name", name, limits.USER_NAME)
    check_text("email address", email, limits.EMAIL)
    with rt.database.transaction() as tx:
        organisation = find_org(tx, org)
        user = people.insert_person(
            tx,
            username=username,
            name=name.strip() or username,
            org_id=organisation.id,
            email=email,
        )
        if user is None:
            raise AlreadyExists(
                "user {username!r} already exists", code="user.exists", username=username
            )
        for role in dict.fromkeys(roles):
            _grant(rt, tx, user, role)
        if password_hash is not None:
            people.set_password_hash(tx, user_id=user.id, password_hash=password_hash)
        return user


def grant_role(rt: Runtime, *, username: str, role: str) -> Grant:
    with rt.database.transaction() as tx:
        return _grant(rt, tx, find_user(tx, username), role)


def defined_roles(rt: Runtime, tx: Transaction) -> set[str]:
    """The roles that the loaded templates (every version) define."""
    return {
        role for record in all_templates(tx) for role in workflow_for(rt, record).template.roles
    }


def _check_defined(rt: Runtime, tx: Transaction, role: str) -> None:
    if role == ADMIN_ROLE:
        return
    defined = defined_roles(rt, tx)
    if not defined:
        raise PlanflowError(
            "no template is loaded, so no role {role!r} is defined yet; load the templates "
            "first (planflow template load)",
            code="role.unknown",
            role=role,
        )
    if role not in defined:
        raise PlanflowError(
            "no loaded template defines the role {role!r}{hint}",
            code="role.unknown",
            role=role,
            hint=suggestion(role, sorted(defined), listing=ROLES_LISTING),
        )


def _grant(rt: Runtime, tx: Transaction, user: Person, role: str) -> Grant:
    _check_role_name(role)
    _check_defined(rt, tx, role)
    grant = people.insert_grant(tx, user_id=user.id, role=role, at=rt.now())
    if grant is None:
        raise AlreadyExists(
            "{username} already holds the role {role}",
            code="role.already_held",
            username=user.username,
            role=role,
        )
    return grant


def list_orgs(rt: Runtime) -> list[Org]:
    with rt.database.read() as tx:
        return people.all_orgs(tx)


def list_users(rt: Runtime) -> list[DirectoryEntry]:
    """Every user with their organisation and roles: `(person, org, roles)` each."""
    with rt.database.read() as tx:
        return people.all_people(tx)


def find_org(tx: Transaction, code: str) -> Org:
    org = people.org_by_code(tx, code=code)
    if org is None:
        raise no_org(code)
    return org


def no_org(code: str) -> NotFound:
    """The refusal of an unknown organisation, and of one outside the caller's reach (which is
    not told apart: a filter must not reveal which organisations exist)."""
    return NotFound(
        "no organisation {org!r}; `planflow org list` shows the known ones",
        code="org.not_found",
        org=code,
    )


def find_user(tx: Transaction, username: str) -> Person:
    """A user who may act: a deactivated one is refused, saying so."""
    return find_user_with_roles(tx, username)[0]


def find_any_user(tx: Transaction, username: str) -> Person:
    """A user, active or not: for the administration of the user themselves."""
    return _with_roles(tx, username)[0]


def find_user_with_roles(tx: Transaction, username: str) -> tuple[Person, list[str]]:
    """A user who may act and the roles they hold, in one query, for the writes that need both."""
    found = _with_roles(tx, username)
    if not found[0].active:
        raise PermissionDenied(
            "{username} is deactivated and can no longer act",
            code="user.deactivated",
            username=username,
        )
    return found


def _with_roles(tx: Transaction, username: str) -> tuple[Person, list[str]]:
    found = people.person_with_roles(tx, username=username)
    if found is None:
        raise NotFound(
            "no user {username!r}; `planflow user list` shows the known ones",
            code="user.not_found",
            username=username,
        )
    return found


def org_path(tx: Transaction, org_id: int) -> list[int]:
    """The organisation's id, then its parent's, up to the root."""
    return store_org_path(tx, org_id=org_id)


def roles_of(tx: Transaction, user_id: int) -> list[str]:
    return store_roles_of(tx, user_id=user_id)


# Role holders: who takes a task for a role.


@dataclass(frozen=True)
class Holders:
    """Who takes a task for a role: the organisation and its holders of the role."""

    org_id: int
    user_ids: list[int]  # in grant order


def nearest_holders(tx: Transaction, role: Role, path: Sequence[int]) -> Holders | None:
    """The nearest organisation within `role`'s scope of a plan at `path` that has holders of it.

    None when there is none: the caller says what could not be done.
    """
    candidates = list(candidate_orgs(role.scope, path))
    # One query over the plan's organisation and its ancestors, which hold every candidate; the
    # nearest candidate with a holder takes the task.
    holders = role_holders_up(tx, role=role.name, org_id=path[0])
    org_id = next((c for c in candidates if any(h.org_id == c for h in holders)), None)
    if org_id is None:
        return None
    return Holders(org_id=org_id, user_ids=[h.user_id for h in holders if h.org_id == org_id])
