"""Bearer tokens of the JSON API (`api_token`): found by the SHA-256 of the token a request
carries, listed by their visible prefix, revoked by a time stamp (the row stays on record)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import ApiToken

_TOKEN = table_of(ApiToken)
_COLUMNS = (
    _TOKEN.c.id,
    _TOKEN.c.user_id,
    _TOKEN.c.name,
    _TOKEN.c.prefix,
    _TOKEN.c.created_at,
    _TOKEN.c.expires_at,
    _TOKEN.c.last_used_at,
    _TOKEN.c.revoked_at,
)
_INSERT = sa.insert(_TOKEN).returning(_TOKEN.c.id)
_BY_HASH = sa.select(*_COLUMNS).where(_TOKEN.c.token_hash == sa.bindparam("token_hash"))
_OF_USER = (
    sa.select(*_COLUMNS).where(_TOKEN.c.user_id == sa.bindparam("user_id")).order_by(_TOKEN.c.id)
)
_USED = (
    sa.update(_TOKEN)
    .where(_TOKEN.c.id == sa.bindparam("token_id"))
    .values(last_used_at=sa.bindparam("at"))
)
_REVOKE = (
    sa.update(_TOKEN)
    .where(_TOKEN.c.id == sa.bindparam("token_id"), _TOKEN.c.revoked_at.is_(None))
    .values(revoked_at=sa.bindparam("at"))
)
_REVOKE_ALL = (
    sa.update(_TOKEN)
    .where(_TOKEN.c.user_id == sa.bindparam("owner_id"), _TOKEN.c.revoked_at.is_(None))
    .values(revoked_at=sa.bindparam("at"))
)


@dataclass(frozen=True)
class TokenRecord:
    id: int
    user_id: int
    name: str
    prefix: str  # the token's first characters, shown in listings to tell tokens apart
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def insert_token(
    tx: Transaction,
    *,
    user_id: int,
    name: str,
    prefix: str,
    token_hash: str,
    at: dt.datetime,
    expires_at: dt.datetime,
) -> int:
    values = {
        "user_id": user_id,
        "name": name,
        "prefix": prefix,
        "token_hash": token_hash,
        "created_at": at,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }
    return int(tx.execute(_INSERT, values).scalar_one())


def token_by_hash(tx: Transaction, *, token_hash: str) -> TokenRecord | None:
    row = tx.execute(_BY_HASH, {"token_hash": token_hash}).first()
    return TokenRecord(*tuple(row)) if row is not None else None


def tokens_of(tx: Transaction, *, user_id: int) -> list[TokenRecord]:
    """Every token the user was given, revoked and expired ones too, oldest first."""
    return [TokenRecord(*tuple(row)) for row in tx.execute(_OF_USER, {"user_id": user_id})]


def mark_token_used(tx: Transaction, *, token_id: int, at: dt.datetime) -> None:
    tx.execute(_USED, {"token_id": token_id, "at": at})


def revoke_token(tx: Transaction, *, token_id: int, at: dt.datetime) -> bool:
    """Revoke one token; False when it was revoked already."""
    return tx.execute(_REVOKE, {"token_id": token_id, "at": at}).rowcount > 0


def revoke_tokens_of(tx: Transaction, *, user_id: int, at: dt.datetime) -> None:
    tx.execute(_REVOKE_ALL, {"owner_id": user_id, "at": at})
