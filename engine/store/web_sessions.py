"""Logged-in browsers (`web_session`): started at login, looked up by the hash of the cookie's
key on every page, touched as they are used, ended by logout, "log out everywhere", a password
change or deactivation. Ended rows are kept: who was logged in from where is part of the record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import WebSession

_SESSION = table_of(WebSession)
_COLUMNS = (
    _SESSION.c.id,
    _SESSION.c.user_id,
    _SESSION.c.csrf_token,
    _SESSION.c.created_at,
    _SESSION.c.last_seen_at,
    _SESSION.c.expires_at,
    _SESSION.c.ended_at,
    _SESSION.c.address,
    _SESSION.c.user_agent,
)
_INSERT = sa.insert(_SESSION).returning(_SESSION.c.id)
_BY_KEY = sa.select(*_COLUMNS).where(_SESSION.c.key_hash == sa.bindparam("key_hash"))
_OF_USER = (
    sa.select(*_COLUMNS)
    .where(_SESSION.c.user_id == sa.bindparam("user_id"), _SESSION.c.ended_at.is_(None))
    .order_by(_SESSION.c.id)
)
_TOUCH = (
    sa.update(_SESSION)
    .where(_SESSION.c.id == sa.bindparam("session_id"))
    .values(last_seen_at=sa.bindparam("at"))
)
_END = (
    sa.update(_SESSION)
    .where(_SESSION.c.id == sa.bindparam("session_id"), _SESSION.c.ended_at.is_(None))
    .values(ended_at=sa.bindparam("at"))
)
_END_ALL = (
    sa.update(_SESSION)
    .where(_SESSION.c.user_id == sa.bindparam("owner_id"), _SESSION.c.ended_at.is_(None))
    .values(ended_at=sa.bindparam("at"))
)


@dataclass(frozen=True)
class SessionRecord:
    id: int
    user_id: int
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    address: str | None
    user_agent: str | None


def insert_session(
    tx: Transaction,
    *,
    key_hash: str,
    user_id: int,
    csrf_token: str,
    at: dt.datetime,
    expires_at: dt.datetime,
    address: str | None,
    user_agent: str | None,
) -> int:
    values = {
        "key_hash": key_hash,
        "user_id": user_id,
        "csrf_token": csrf_token,
        "created_at": at,
        "last_seen_at": at,
        "expires_at": expires_at,
        "ended_at": None,
        "address": address,
        "user_agent": user_agent,
    }
    return int(tx.execute(_INSERT, values).scalar_one())


def session_by_key(tx: Transaction, *, key_hash: str) -> SessionRecord | None:
    """The session whose cookie key hashes to `key_hash`, ended or not."""
    row = tx.execute(_BY_KEY, {"key_hash": key_hash}).first()
    return SessionRecord(*tuple(row)) if row is not None else None


def open_sessions_of(tx: Transaction, *, user_id: int) -> list[SessionRecord]:
    return [SessionRecord(*tuple(row)) for row in tx.execute(_OF_USER, {"user_id": user_id})]


def touch_session(tx: Transaction, *, session_id: int, at: dt.datetime) -> None:
    tx.execute(_TOUCH, {"session_id": session_id, "at": at})


def end_session(tx: Transaction, *, session_id: int, at: dt.datetime) -> None:
    tx.execute(_END, {"session_id": session_id, "at": at})


def end_sessions_of(tx: Transaction, *, user_id: int, at: dt.datetime) -> None:
    """End every open session of the user (log out everywhere, deactivation, new password)."""
    tx.execute(_END_ALL, {"owner_id": user_id, "at": at})
