"""Organisations, users and their role grants, as the service reads and writes them.

`Person`, `Org` and `Grant` are the records of the three tables; the service never holds their
ORM objects. Creating one returns None when its unique key (a code, a username, a role already
held) is taken, so the service says so in its own words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from engine.store import statements
from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import Organisation, RoleGrant, User, as_utc
from engine.store.unique import insert_unless_taken

_ORG = table_of(Organisation)
_USER = table_of(User)
_GRANT = table_of(RoleGrant)
_INSERT_ORG = sa.insert(_ORG).returning(_ORG.c.id)
_INSERT_USER = sa.insert(_USER).returning(_USER.c.id)
_INSERT_GRANT = sa.insert(_GRANT).returning(_GRANT.c.id)
_ORGS = sa.select(_ORG.c.id, _ORG.c.code, _ORG.c.name, _ORG.c.parent_id).order_by(_ORG.c.id)
_PEOPLE = sa.select(
    _USER.c.id,
    _USER.c.username,
    _USER.c.name,
    _USER.c.org_id,
    _USER.c.email,
    _USER.c.active,
).order_by(_USER.c.id)
_GRANTS = sa.select(_GRANT.c.user_id, _GRANT.c.role).order_by(_GRANT.c.id)
_ROLES_OF = (
    sa.select(_GRANT.c.role)
    .where(_GRANT.c.user_id == sa.bindparam("user_id"))
    .order_by(_GRANT.c.id)
)


@dataclass(frozen=True)
class Person:
    """A user: who they are, where they sit, and whether they may still act."""

    id: int
    username: str
    name: str
    org_id: int
    email: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Org:
    """An organisation (a union) in the tree: the county at the root, then townships, then
    grassroots unions."""

    id: int
    code: str
    name: str
    parent_id: int | None


@dataclass(frozen=True)
class Grant:
    """A role a user holds, at their own organisation, since `granted_at`."""

    id: int
    user_id: int
    role: str
    granted_at: dt.datetime


class DirectoryEntry(NamedTuple):
    """A user as the directory lists them: with their organisation and roles (in grant order)."""

    person: Person
    org: Org
    roles: tuple[str, ...]


@dataclass(frozen=True)
class RoleHolder:
    user_id: int
    org_id: int


def _person(row: Any) -> Person:
    """A `Person` from a row of its fields, in order; SQLite's driver gives `active` as 0/1."""
    id_, username, name, org_id, email, active = row
    return Person(id_, username, name, org_id, email, bool(active))


def person_by_username(tx: Transaction, *, username: str) -> Person | None:
    row = tx.execute(statements.PERSON_BY_NAME, {"username": username}).first()
    return _person(row) if row is not None else None


def person_by_id(tx: Transaction, *, user_id: int) -> Person | None:
    row = tx.execute(statements.PERSON_BY_ID, {"user_id": user_id}).first()
    return _person(row) if row is not None else None


def person_with_roles(tx: Transaction, *, username: str) -> tuple[Person, list[str]] | None:
    """The user and the roles they hold (in grant order), in one query."""
    rows = tx.execute(statements.USER_WITH_ROLES, {"username": username}).all()
    if not rows:
        return None
    first = rows[0]
    person = Person(
        id=first.id,
        username=first.username,
        name=first.name,
        org_id=first.org_id,
        email=first.email,
        active=bool(first.active),
    )
    return person, [row.role for row in rows if row.role is not None]


def roles_of(tx: Transaction, *, user_id: int) -> list[str]:
    """The roles a user holds, in grant order."""
    return tx.execute(_ROLES_OF, {"user_id": user_id}).scalars()


def org_by_code(tx: Transaction, *, code: str) -> Org | None:
    row = tx.execute(statements.ORG_BY_CODE, {"code": code}).first()
    return Org(*row) if row is not None else None


def org_by_id(tx: Transaction, *, org_id: int) -> Org | None:
    row = tx.execute(statements.ORG_BY_ID, {"org_id": org_id}).first()
    return Org(*row) if row is not None else None


def org_path(tx: Transaction, *, org_id: int) -> list[int]:
    """The organisation's id, then its parent's, up to the root."""
    # Kept for the transaction: listings ask once per plan, and every write asks once.
    paths: dict[int, list[int]] = tx.memo.setdefault("org_paths", {})
    if org_id not in paths:
        rows = tx.execute(statements.ANCESTORS, {"org_id": org_id})
        parent = {row.id: row.parent_id for row in rows}  # the whole chain, in no order
        path: list[int] = []
        current: int | None = org_id
        while current is not None:
            if current in path:  # a cycle would be a corrupt tree; stop rather than loop forever
                break
            path.append(current)
            current = parent.get(current)
        paths[org_id] = path
    return list(paths[org_id])


def role_holders_up(tx: Transaction, *, role: str, org_id: int) -> list[RoleHolder]:
    """The active holders of `role` at the organisation or any of its ancestors, in grant
    order."""
    rows = tx.execute(statements.ROLE_HOLDERS_UP, {"role": role, "org_id": org_id})
    return [RoleHolder(user_id=row.user_id, org_id=row.org_id) for row in rows]


def role_holders_at(tx: Transaction, *, role: str, org_id: int) -> list[int]:
    """The user ids of the active holders of `role` at one organisation, in grant order."""
    return tx.execute(statements.ROLE_HOLDERS_AT, {"role": role, "org_id": org_id}).scalars()


def all_orgs(tx: Transaction) -> list[Org]:
    """Every organisation, in the order they were created (parents before their children)."""
    return [Org(*row) for row in tx.execute(_ORGS)]


def all_people(tx: Transaction) -> list[DirectoryEntry]:
    """Every user, active or not, in the order they were created."""
    orgs = {org.id: org for org in all_orgs(tx)}
    roles: dict[int, list[str]] = {}
    for grant in tx.execute(_GRANTS):
        roles.setdefault(grant.user_id, []).append(grant.role)
    return [
        DirectoryEntry(person, orgs[person.org_id], tuple(roles.get(person.id, ())))
        for person in (_person(row) for row in tx.execute(_PEOPLE))
    ]


def insert_org(tx: Transaction, *, code: str, name: str, parent_id: int | None) -> Org | None:
    """A new organisation; None if the code is taken."""
    org_id = insert_unless_taken(
        tx, _INSERT_ORG, {"code": code, "name": name, "parent_id": parent_id}, key=("code",)
    )
    return None if org_id is None else Org(id=org_id, code=code, name=name, parent_id=parent_id)


def insert_person(
    tx: Transaction, *, username: str, name: str, org_id: int, email: str | None
) -> Person | None:
    """A new, active user; None if the username is taken."""
    values: dict[str, Any] = {
        "username": username,
        "name": name,
        "org_id": org_id,
        "email": email,
        "active": True,
    }
    user_id = insert_unless_taken(tx, _INSERT_USER, values, key=("username",))
    return None if user_id is None else Person(id=user_id, **values)


def insert_grant(tx: Transaction, *, user_id: int, role: str, at: dt.datetime) -> Grant | None:
    """Grant `role` to the user from `at`; None if they hold it already."""
    values: dict[str, Any] = {"user_id": user_id, "role": role, "granted_at": as_utc(at)}
    grant_id = insert_unless_taken(tx, _INSERT_GRANT, values, key=("user_id", "role"))
    return None if grant_id is None else Grant(id=grant_id, **values)


_PASSWORD_OF = sa.select(_USER.c.password_hash).where(_USER.c.id == sa.bindparam("user_id"))
_SET_PASSWORD = (
    sa.update(_USER)
    .where(_USER.c.id == sa.bindparam("user_id"))
    .values(password_hash=sa.bindparam("password_hash"))
)


def password_hash_of(tx: Transaction, *, user_id: int) -> str | None:
    """The user's argon2 hash; None when no password was ever set."""
    value = tx.execute(_PASSWORD_OF, {"user_id": user_id}).scalar()
    return str(value) if value is not None else None


def set_password_hash(tx: Transaction, *, user_id: int, password_hash: str | None) -> None:
    tx.execute(_SET_PASSWORD, {"user_id": user_id, "password_hash": password_hash})
