"""API bearer tokens: made for a user by the operator (`planflow user token create`), shown
once, stored as a SHA-256 with a short visible prefix, an expiry and the time of last use.

`token_caller` turns a request's `Authorization: Bearer …` back into the `Caller`, or None when
the token is unknown, revoked, expired, or its user is deactivated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from engine.core import limits
from engine.core.errors import ActionRefused, NotFound
from engine.core.i18n import N_
from engine.service.callers import Caller
from engine.service.directory import find_any_user
from engine.service.runtime import Runtime
from engine.store import api_tokens
from engine.store.api_tokens import TokenRecord
from engine.store.people import person_by_id, roles_of

PREFIX = "pf_"  # every token starts so, which lets secret scanners and people recognise one
VISIBLE = 8  # characters after PREFIX shown in listings
NO_TOKEN = N_("{username} has no token #{token_id}")
TOKEN_NAME = N_("token's name")
NAME_CHARS = 100
NAME_NEEDED = N_("a token needs a name saying what it is for")
REVOKED_ALREADY = N_("token #{token_id} of {username} is revoked already")
# Used this recently, a token's last use is not written again (one write per API call otherwise).
MARK_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    record: TokenRecord


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(rt: Runtime, *, username: str, name: str, days: int | None = None) -> NewToken:
    name = name.strip()
    if not name:
        raise ActionRefused(NAME_NEEDED, code="token.name_missing", field="name")
    limits.check_text(TOKEN_NAME, name, NAME_CHARS)
    now = rt.now()
    token = PREFIX + secrets.token_urlsafe(32)
    lifetime = dt.timedelta(days=days if days is not None else rt.settings.token_days)
    with rt.database.transaction() as tx:
        user = find_any_user(tx, username)
        token_id = api_tokens.insert_token(
            tx,
            user_id=user.id,
            name=name,
            prefix=token[: len(PREFIX) + VISIBLE],
            token_hash=token_hash(token),
            at=now,
            expires_at=now + lifetime,
        )
        record = next(t for t in api_tokens.tokens_of(tx, user_id=user.id) if t.id == token_id)
    return NewToken(token=token, record=record)


def list_tokens(rt: Runtime, *, username: str) -> list[TokenRecord]:
    with rt.database.read() as tx:
        return api_tokens.tokens_of(tx, user_id=find_any_user(tx, username).id)


def revoke_token(rt: Runtime, *, username: str, token_id: int) -> TokenRecord:
    with rt.database.transaction() as tx:
        user = find_any_user(tx, username)
        mine = {t.id: t for t in api_tokens.tokens_of(tx, user_id=user.id)}
        if token_id not in mine:
            raise NotFound(NO_TOKEN, code="token.not_found", username=username, token_id=token_id)
        if not api_tokens.revoke_token(tx, token_id=token_id, at=rt.now()):
            raise ActionRefused(
                REVOKED_ALREADY, code="token.revoked", username=username, token_id=token_id
            )
        return next(t for t in api_tokens.tokens_of(tx, user_id=user.id) if t.id == token_id)


def token_caller(rt: Runtime, *, token: str) -> Caller | None:
    now = rt.now()
    with rt.database.read() as tx:
        record = api_tokens.token_by_hash(tx, token_hash=token_hash(token))
        if record is None or record.revoked_at is not None or now >= record.expires_at:
            return None
        person = person_by_id(tx, user_id=record.user_id)
        if person is None or not person.active:
            return None
        roles = tuple(roles_of(tx, user_id=person.id))
    if record.last_used_at is None or now - record.last_used_at >= MARK_EVERY:
        with rt.database.transaction() as tx:
            api_tokens.mark_token_used(tx, token_id=record.id, at=now)
    return Caller(person=person, roles=roles, token_id=record.id)
