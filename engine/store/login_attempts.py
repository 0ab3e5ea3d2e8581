"""Tries to log in (`login_attempt`), counted to throttle password guessing per username and
per address. Each login prunes the rows older than the window: the throttle reads no others."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.store.driver import Transaction
from engine.store.statements import table_of
from engine.store.tables import LoginAttempt

_ATTEMPT = table_of(LoginAttempt)
_INSERT = sa.insert(_ATTEMPT)
_LAST_SUCCESS_ID = (
    sa.select(sa.func.coalesce(sa.func.max(_ATTEMPT.c.id), 0))
    .where(_ATTEMPT.c.username == sa.bindparam("username"), _ATTEMPT.c.succeeded.is_(True))
    .scalar_subquery()
)
# Since the username's last success (by id: two attempts may share an instant) and in the window.
_USER_FAILURES = (
    _ATTEMPT.c.username == sa.bindparam("username"),
    _ATTEMPT.c.at >= sa.bindparam("since"),
    _ATTEMPT.c.succeeded.is_(False),
    _ATTEMPT.c.id > _LAST_SUCCESS_ID,
)
_ADDRESS_FAILURES = (
    _ATTEMPT.c.address == sa.bindparam("address"),
    _ATTEMPT.c.at >= sa.bindparam("since"),
    _ATTEMPT.c.succeeded.is_(False),
)
_FAILED_FOR_USER = sa.select(sa.func.count()).where(*_USER_FAILURES)
_FAILED_FROM_ADDRESS = sa.select(sa.func.count()).where(*_ADDRESS_FAILURES)
_FIRST_FAILED_FOR_USER = sa.select(sa.func.min(_ATTEMPT.c.at)).where(*_USER_FAILURES)
_FIRST_FAILED_FROM_ADDRESS = sa.select(sa.func.min(_ATTEMPT.c.at)).where(*_ADDRESS_FAILURES)
_PRUNE = sa.delete(_ATTEMPT).where(_ATTEMPT.c.at < sa.bindparam("before"))


def record_attempt(
    tx: Transaction, *, username: str, address: str, at: dt.datetime, succeeded: bool
) -> None:
    tx.execute(
        _INSERT, {"username": username, "address": address, "at": at, "succeeded": succeeded}
    )


def failures_for_username(tx: Transaction, *, username: str, since: dt.datetime) -> int:
    """Failed logins of `username` at or after `since` and after its last successful one."""
    return int(tx.execute(_FAILED_FOR_USER, {"username": username, "since": since}).scalar())


def failures_from_address(tx: Transaction, *, address: str, since: dt.datetime) -> int:
    return int(tx.execute(_FAILED_FROM_ADDRESS, {"address": address, "since": since}).scalar())


def first_counted_failure(
    tx: Transaction, *, since: dt.datetime, username: str | None = None, address: str | None = None
) -> dt.datetime | None:
    """When the oldest failure counted by `failures_for_username` (given `username`) or by
    `failures_from_address` (given `address`) was made; None when there is none."""
    if username is not None:
        found = tx.execute(_FIRST_FAILED_FOR_USER, {"username": username, "since": since})
    else:
        found = tx.execute(_FIRST_FAILED_FROM_ADDRESS, {"address": address, "since": since})
    at = found.scalar()
    return at if isinstance(at, dt.datetime) else None


def prune_attempts(tx: Transaction, *, before: dt.datetime) -> int:
    """Delete the attempts made before `before` (older than the throttle's window)."""
    return tx.execute(_PRUNE, {"before": before}).rowcount
