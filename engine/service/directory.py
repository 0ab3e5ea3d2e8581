"""Organisations, users and role grants: who sits where and may do what.

Roles are granted only when a loaded template defines them. Taking a role away, or a person out
(deactivation), hands over their open tasks first: that is `leaving.py`, which builds on the plan
writes that build on this module. A deactivated user is refused wherever they are named as the
one acting (`find_user`, `find_user_with_roles`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.core import limits
from engine.core.errors import AlreadyExists, NotFound, PermissionDenied, PlanflowError
from engine.core.limits import check_text
from engine.core.yamlschema import suggestion
from engine.service.runtime import Runtime
from engine.service.templates import workflow_for
from engine.store.driver import Transaction
from engine.store.people import (
    Org,
    Person,
    org_by_code,
    person_by_username,
    person_with_roles,
)
from engine.store.people import org_path as store_org_path
from engine.store.people import roles_of as store_roles_of
from engine.store.tables import Organisation, RoleGrant, TemplateRecord, User

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _check_code(kind: str, code: str) -> None:
    if not _CODE.match(code):
        raise PlanflowError(
            f"{kind} {code!r} is not valid: use lowercase letters, digits, '-' or '_' "
            "(at most 64), starting with a letter or digit"
        )


def create_org(rt: Runtime, *, code: str, name: str, parent: str | None = None) -> Organisation:
    _check_code("organisation code", code)
    check_text("organisation's name", name, limits.ORG_NAME)
    with rt.database.session() as session:
        parent_id = find_org(Transaction.of(session), parent).id if parent else None
        if session.exec(select(Organisation).where(Organisation.code == code)).first():
            raise AlreadyExists(f"organisation {code!r} already exists")
        org = Organisation(code=code, name=name.strip() or code, parent_id=parent_id)
        session.add(org)
        session.flush()
        return org


def create_user(
    rt: Runtime,
    *,
    username: str,
    name: str,
    org: str,
    roles: Iterable[str] = (),
    email: str | None = None,
) -> User:
    _check_code("username", username)
    check_text("user's name", name, limits.USER_NAME)
    check_text("email address", email, limits.EMAIL)
    with rt.database.session() as session:
        organisation = find_org(Transaction.of(session), org)
        if session.exec(select(User).where(User.username == username)).first():
            raise AlreadyExists(f"user {username!r} already exists")
        assert organisation.id is not None
        user = User(
            username=username, name=name.strip() or username, org_id=organisation.id, email=email
        )
        session.add(user)
        session.flush()
        for role in dict.fromkeys(roles):
            _grant(rt, session, user, role)
        return user


def grant_role(rt: Runtime, *, username: str, role: str) -> RoleGrant:
    with rt.database.session() as session:
        return _grant(rt, session, find_user(Transaction.of(session), username), role)


def defined_roles(rt: Runtime, session: Session) -> set[str]:
    """The roles that the loaded templates (every version) define."""
    records = session.exec(select(TemplateRecord))
    return {role for record in records for role in workflow_for(rt, record).template.roles}


def _check_defined(rt: Runtime, session: Session, role: str) -> None:
    defined = defined_roles(rt, session)
    if not defined:
        raise PlanflowError(
            f"no template is loaded, so no role {role!r} is defined yet; load the templates "
            "first (planflow template load)"
        )
    if role not in defined:
        hint = suggestion(role, sorted(defined), listing="roles the loaded templates define")
        raise PlanflowError(f"no loaded template defines the role {role!r}{hint}")


def _grant(rt: Runtime, session: Session, user: Person | User, role: str) -> RoleGrant:
    _check_code("role", role)
    _check_defined(rt, session, role)
    assert user.id is not None
    grant = RoleGrant(user_id=user.id, role=role, granted_at=rt.now())
    try:
        with session.begin_nested():
            session.add(grant)
    except IntegrityError:
        raise AlreadyExists(f"{user.username} already holds the role {role}") from None
    return grant


def list_orgs(rt: Runtime) -> list[Organisation]:
    with rt.database.session() as session:
        return list(session.exec(select(Organisation).order_by(col(Organisation.id))))


def list_users(rt: Runtime) -> list[tuple[User, Organisation, list[str]]]:
    with rt.database.session() as session:
        users = session.exec(select(User, Organisation).join(Organisation).order_by(col(User.id)))
        grants: dict[int, list[str]] = {}
        for grant in session.exec(select(RoleGrant).order_by(col(RoleGrant.id))):
            grants.setdefault(grant.user_id, []).append(grant.role)
        return [(user, org, grants.get(user.id or 0, [])) for user, org in users]


def find_org(tx: Transaction, code: str) -> Org:
    org = org_by_code(tx, code=code)
    if org is None:
        raise NotFound(
            "no organisation {org!r}; `planflow org list` shows the known ones",
            code="org.not_found",
            org=code,
        )
    return org


def find_user(tx: Transaction, username: str) -> Person:
    """A user who may act: a deactivated one is refused, saying so."""
    user = find_any_user(tx, username)
    if not user.active:
        raise _deactivated(username)
    return user


def find_any_user(tx: Transaction, username: str) -> Person:
    """A user, active or not: for the administration of the user themselves."""
    user = person_by_username(tx, username=username)
    if user is None:
        raise _no_user(username)
    return user


def _no_user(username: str) -> NotFound:
    return NotFound(
        "no user {username!r}; `planflow user list` shows the known ones",
        code="user.not_found",
        username=username,
    )


def _deactivated(username: str) -> PermissionDenied:
    return PermissionDenied(
        "{username} is deactivated and can no longer act",
        code="user.deactivated",
        username=username,
    )


def find_user_with_roles(tx: Transaction, username: str) -> tuple[Person, list[str]]:
    """The user and the roles they hold, in one query, for the writes that need both."""
    found = person_with_roles(tx, username=username)
    if found is None:
        raise _no_user(username)
    if not found[0].active:
        raise _deactivated(username)
    return found


def org_path(tx: Transaction, org_id: int) -> list[int]:
    """The organisation's id, then its parent's, up to the root."""
    return store_org_path(tx, org_id=org_id)


def roles_of(tx: Transaction, user_id: int) -> list[str]:
    return store_roles_of(tx, user_id=user_id)


# Role holders for tasks (moved here from `actions`). The imports stand here, not at the top,
# only because this block was appended by another change: move them up when convenient.
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from engine.core.scope import candidate_orgs  # noqa: E402
from engine.core.template.model import Role  # noqa: E402
from engine.store.people import role_holders_up  # noqa: E402


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
