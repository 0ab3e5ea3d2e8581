"""What an administrator may administer from the pages: their own organisation and everything
below it (their realm), and nothing else.

A holder of the built-in `admin` role (`directory.ADMIN_ROLE`) sees and changes organisations
and users of their realm only; anything outside it, and every use case here to someone who is
not an administrator, reads as not existing (NotFound: 404, never 403). Each function checks the
actor first, then calls the directory's, leaving's or passwords' own use case, which writes in
one transaction as it always does.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.errors import ActionRefused, NotFound
from engine.core.i18n import N_
from engine.service import directory, leaving, passwords
from engine.service.directory import ADMIN_ROLE, find_user_with_roles
from engine.service.plan_views import reachable_orgs
from engine.service.runtime import Runtime
from engine.service.templates import workflow_for
from engine.service.writes import WriteResult
from engine.store import Transaction, people
from engine.store.people import DirectoryEntry, Grant, Org, Person
from engine.store.templates import all_templates

ADMINS_ONLY = N_("only an administrator may do this")
NO_ORG = N_("no organisation {org!r}")
NO_USER = N_("no user {username!r}")
NOT_YOURSELF = N_("you cannot deactivate your own account; ask another administrator")


@dataclass(frozen=True)
class Realm:
    """An administrator and the organisations they administer (their own and all below)."""

    admin: Person
    org_ids: frozenset[int]


@dataclass(frozen=True)
class OrgEntry:
    org: Org
    parent: str | None  # the parent's code (outside the realm for the administrator's own)


def realm_of(tx: Transaction, actor: str) -> Realm:
    """The actor's realm; NotFound unless they are an active administrator."""
    user, roles = find_user_with_roles(tx, actor)
    if ADMIN_ROLE not in roles:
        raise NotFound(ADMINS_ONLY, code="admin.only", username=actor)
    return Realm(admin=user, org_ids=frozenset(reachable_orgs(tx, user, roles)))


def require_admin(rt: Runtime, *, actor: str) -> None:
    """NotFound unless the actor is an active administrator (for what has no realm: templates)."""
    with rt.database.read() as tx:
        realm_of(tx, actor)


def _org_in(tx: Transaction, realm: Realm, code: str, field: str = "org") -> Org:
    org = people.org_by_code(tx, code=code)
    if org is None or org.id not in realm.org_ids:
        raise NotFound(NO_ORG, code="org.not_found", org=code, field=field)
    return org


def _user_in(tx: Transaction, realm: Realm, username: str) -> DirectoryEntry:
    found = next((e for e in people.all_people(tx) if e.person.username == username), None)
    if found is None or found.person.org_id not in realm.org_ids:
        raise NotFound(NO_USER, code="user.not_found", username=username)
    return found


def _entries(tx: Transaction, realm: Realm) -> list[OrgEntry]:
    orgs = people.all_orgs(tx)
    codes = {org.id: org.code for org in orgs}
    return [
        OrgEntry(org, codes.get(org.parent_id) if org.parent_id is not None else None)
        for org in orgs
        if org.id in realm.org_ids
    ]


def list_orgs(rt: Runtime, *, actor: str) -> list[OrgEntry]:
    """The organisations of the actor's realm, parents before their children."""
    with rt.database.read() as tx:
        return _entries(tx, realm_of(tx, actor))


def create_org(rt: Runtime, *, actor: str, code: str, name: str, parent: str) -> OrgEntry:
    """A new organisation under `parent`, which must be in the actor's realm."""
    with rt.database.read() as tx:
        _org_in(tx, realm_of(tx, actor), parent, field="parent")
    org = directory.create_org(rt, code=code, name=name, parent=parent)
    return OrgEntry(org, parent)


def show_org(rt: Runtime, *, actor: str, code: str) -> OrgEntry:
    """One organisation of the actor's realm, with its parent's code."""
    with rt.database.read() as tx:
        org = _org_in(tx, realm_of(tx, actor), code, field="code")
        parent = people.org_by_id(tx, org_id=org.parent_id) if org.parent_id is not None else None
        return OrgEntry(org, parent.code if parent is not None else None)


def own_entry(rt: Runtime, *, actor: str) -> DirectoryEntry:
    """The actor as the directory lists them (anyone active may see themselves)."""
    with rt.database.read() as tx:
        user, roles = find_user_with_roles(tx, actor)
        org = people.org_by_id(tx, org_id=user.org_id)
        assert org is not None  # (a user's organisation is a foreign key)
        return DirectoryEntry(user, org, tuple(roles))


def list_users(rt: Runtime, *, actor: str) -> list[DirectoryEntry]:
    """The users of the actor's realm, active or not, in the order they were created."""
    with rt.database.read() as tx:
        realm = realm_of(tx, actor)
        return [e for e in people.all_people(tx) if e.person.org_id in realm.org_ids]


def show_user(rt: Runtime, *, actor: str, username: str) -> DirectoryEntry:
    with rt.database.read() as tx:
        return _user_in(tx, realm_of(tx, actor), username)


def role_titles(rt: Runtime, *, actor: str) -> dict[str, str]:
    """The roles the loaded templates define, with their titles (the newest version's); the
    built-in `admin` role, which no template defines, is not among them."""
    with rt.database.read() as tx:
        realm_of(tx, actor)
        titles: dict[str, str] = {}
        for record in all_templates(tx):  # newer versions' titles win
            for role in workflow_for(rt, record).template.roles.values():
                titles[role.name] = role.title
    return titles


def create_user(
    rt: Runtime,
    *,
    actor: str,
    username: str,
    name: str,
    org: str,
    roles: list[str],
    email: str | None = None,
    password: str | None = None,
) -> DirectoryEntry:
    """A new user of an organisation of the realm; with `password`, checked before anything is
    written, they may log in with it at once."""
    with rt.database.read() as tx:
        _org_in(tx, realm_of(tx, actor), org)
    if password is not None:
        passwords.check_new_password(password)
    directory.create_user(rt, username=username, name=name, org=org, roles=roles, email=email)
    if password is not None:
        passwords.set_password(rt, username=username, password=password)
    return show_user(rt, actor=actor, username=username)


def grant_role(rt: Runtime, *, actor: str, username: str, role: str) -> Grant:
    with rt.database.read() as tx:
        _user_in(tx, realm_of(tx, actor), username)
    return directory.grant_role(rt, username=username, role=role)


def revoke_role(rt: Runtime, *, actor: str, username: str, role: str) -> list[WriteResult]:
    """Take the role away; the user's open tasks for it are handed over first (`leaving`)."""
    with rt.database.read() as tx:
        _user_in(tx, realm_of(tx, actor), username)
    return leaving.revoke_role(rt, username=username, role=role)


def deactivate_user(rt: Runtime, *, actor: str, username: str) -> list[WriteResult]:
    """Deactivate a user of the realm (never oneself: the realm would lose its administrator)."""
    with rt.database.read() as tx:
        realm = realm_of(tx, actor)
        _user_in(tx, realm, username)
    if username == actor:
        raise ActionRefused(NOT_YOURSELF, code="admin.not_yourself", username=username)
    return leaving.deactivate_user(rt, username=username)


def reset_password(rt: Runtime, *, actor: str, username: str, password: str) -> None:
    """Give a user of the realm a new password; their sessions end (`passwords.set_password`)."""
    with rt.database.read() as tx:
        _user_in(tx, realm_of(tx, actor), username)
    passwords.set_password(rt, username=username, password=password)
