"""Organisations, users and their role grants, as the service reads and writes them."""

from __future__ import annotations

from dataclasses import dataclass

from engine.store import statements
from engine.store.driver import Transaction


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
class RoleHolder:
    user_id: int
    org_id: int


def person_by_username(tx: Transaction, *, username: str) -> Person | None:
    row = tx.execute(statements.PERSON_BY_NAME, {"username": username}).first()
    return Person(*row) if row is not None else None


def person_by_id(tx: Transaction, *, user_id: int) -> Person | None:
    row = tx.execute(statements.PERSON_BY_ID, {"user_id": user_id}).first()
    return Person(*row) if row is not None else None


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
        active=first.active,
    )
    return person, [row.role for row in rows if row.role is not None]


def roles_of(tx: Transaction, *, user_id: int) -> list[str]:
    """The roles a user holds, in grant order."""
    return tx.execute(statements.ROLES_OF, {"user_id": user_id}).scalars()


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
