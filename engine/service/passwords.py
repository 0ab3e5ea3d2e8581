"""Passwords: argon2 hashes through pwdlib, set by the operator (`planflow user create
--password-stdin`, `planflow user passwd`) or by an administrator's reset.

Setting a password ends the user's sessions: whoever knew the old one is logged out.
"""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from engine.core.errors import ActionRefused
from engine.core.i18n import N_
from engine.service.directory import find_any_user
from engine.service.runtime import Runtime
from engine.store import Transaction
from engine.store.people import password_hash_of, set_password_hash
from engine.store.web_sessions import end_sessions_of

MIN_LENGTH = 8
MAX_LENGTH = 128  # argon2 takes any length; this bounds the work one login can ask of the server
PASSWORD_TOO_SHORT = N_("the password must have at least {min} characters")
PASSWORD_TOO_LONG = N_("the password may have at most {max} characters")

_HASHER = PasswordHash((Argon2Hasher(),))


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist or has no password, so that a login for an
    unknown name takes as long as one for a known name (no hint by timing either). Made at the
    first login, not at import: every `planflow` command imports this module."""
    return _HASHER.hash("planflow-no-such-user")


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ActionRefused(
            PASSWORD_TOO_SHORT, code="password.too_short", field="password", min=MIN_LENGTH
        )
    if len(password) > MAX_LENGTH:
        raise ActionRefused(
            PASSWORD_TOO_LONG, code="password.too_long", field="password", max=MAX_LENGTH
        )


def hash_password(password: str) -> str:
    check_new_password(password)
    return _HASHER.hash(password)


def store_password(rt: Runtime, tx: Transaction, *, user_id: int, password: str) -> None:
    """Set the password in `tx` and end the user's sessions."""
    set_password_hash(tx, user_id=user_id, password_hash=hash_password(password))
    end_sessions_of(tx, user_id=user_id, at=rt.now())


def set_password(rt: Runtime, *, username: str, password: str) -> None:
    with rt.database.transaction() as tx:
        user = find_any_user(tx, username)
        store_password(rt, tx, user_id=user.id, password=password)


def password_matches(tx: Transaction, *, user_id: int | None, password: str) -> bool:
    """Whether `password` is the user's; always one argon2 verification, even with no user."""
    stored = password_hash_of(tx, user_id=user_id) if user_id is not None else None
    too_long = len(password) > MAX_LENGTH  # still verified (cut short), always refused
    matches = _HASHER.verify(password[:MAX_LENGTH], stored or _dummy_hash())
    return stored is not None and matches and not too_long
