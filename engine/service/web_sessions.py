"""Logging in and out of the pages: a server-side session per browser.

`log_in` checks the throttle, then the password, and starts a session; the browser gets a random
key (in the signed cookie) that only this module sees in clear: the table holds its SHA-256.
`session_caller` turns a cookie's key back into the `Caller` on every page, or None when the
session is unknown, over (logged out, its user deactivated or given a new password), past its
lifetime or idle for too long. A failed login says the same whether the user exists or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass

from config.settings import Settings
from engine.core.errors import NotAuthenticated, TooManyAttempts
from engine.core.i18n import N_
from engine.service.callers import Caller
from engine.service.passwords import password_matches
from engine.service.runtime import Runtime
from engine.store import Transaction, login_attempts, web_sessions
from engine.store.people import person_by_id, person_with_roles, roles_of

WRONG_LOGIN = N_("wrong username or password")
THROTTLED = N_("too many failed logins; try again in {minutes} minutes")
# Seen this recently, a session is not touched again: one write per page view would be a write
# lock per page on SQLite, and the idle limit is counted in minutes, not seconds.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class StartedSession:
    key: str  # for the cookie; never stored
    csrf_token: str
    expires_at: dt.datetime


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def log_in(
    rt: Runtime, *, username: str, password: str, address: str, user_agent: str | None = None
) -> StartedSession:
    """Start a session for `username`, or refuse: throttled, or a wrong name or password."""
    now = rt.now()
    settings = rt.settings
    window = dt.timedelta(minutes=settings.login_window_minutes)
    username = username.strip()[:64]
    address = address[:64]
    with rt.database.transaction() as tx:
        since = now - window
        login_attempts.prune_attempts(tx, before=since)  # nothing reads older ones
        wait = _throttled_for(tx, settings, username=username, address=address, now=now)
        throttled = wait is not None
        if not throttled:
            found = person_with_roles(tx, username=username)
            person = found[0] if found is not None else None
            usable = person is not None and person.active
            matches = password_matches(
                tx, user_id=person.id if person is not None else None, password=password
            )
            succeeded = usable and matches
            login_attempts.record_attempt(
                tx, username=username, address=address, at=now, succeeded=succeeded
            )
            if succeeded:
                assert person is not None
                started = StartedSession(
                    key=secrets.token_urlsafe(32),
                    csrf_token=secrets.token_urlsafe(32),
                    expires_at=now + dt.timedelta(hours=settings.session_hours),
                )
                web_sessions.insert_session(
                    tx,
                    key_hash=key_hash(started.key),
                    user_id=person.id,
                    csrf_token=started.csrf_token,
                    at=now,
                    expires_at=started.expires_at,
                    address=address,
                    user_agent=(user_agent or "")[:300] or None,
                )
                return started
    # Outside the transaction, so that the failed attempt is committed with it.
    if throttled:
        raise TooManyAttempts(
            THROTTLED,
            code="auth.throttled",
            minutes=wait,
        )
    raise NotAuthenticated(WRONG_LOGIN, code="auth.wrong_login")


def _throttled_for(
    tx: Transaction, settings: Settings, *, username: str, address: str, now: dt.datetime
) -> int | None:
    """None when `username` may try from `address` now; else in how many whole minutes (at
    least one) it may: when the oldest failure counted against it leaves the window."""
    window = dt.timedelta(minutes=settings.login_window_minutes)
    since = now - window
    firsts: list[dt.datetime | None] = []
    user_failures = login_attempts.failures_for_username(tx, username=username, since=since)
    if user_failures >= settings.login_failures_per_user:
        firsts.append(login_attempts.first_counted_failure(tx, since=since, username=username))
    address_failures = login_attempts.failures_from_address(tx, address=address, since=since)
    if address_failures >= settings.login_failures_per_address:
        firsts.append(login_attempts.first_counted_failure(tx, since=since, address=address))
    if not firsts:
        return None
    free_at = max((first + window for first in firsts if first is not None), default=now)
    return max(1, math.ceil((free_at - now) / dt.timedelta(minutes=1)))


def session_caller(rt: Runtime, *, key: str) -> Caller | None:
    """The caller of a live session, touching it; None when there is none to be had."""
    now = rt.now()
    idle = dt.timedelta(minutes=rt.settings.session_idle_minutes)
    with rt.database.read() as tx:
        session = web_sessions.session_by_key(tx, key_hash=key_hash(key))
        if session is None or session.ended_at is not None:
            return None
        if now >= session.expires_at or now - session.last_seen_at >= idle:
            return None
        person = person_by_id(tx, user_id=session.user_id)
        if person is None or not person.active:
            return None
        roles = tuple(roles_of(tx, user_id=person.id))
    if now - session.last_seen_at >= TOUCH_EVERY:
        with rt.database.transaction() as tx:
            web_sessions.touch_session(tx, session_id=session.id, at=now)
    return Caller(person=person, roles=roles, session_id=session.id, csrf_token=session.csrf_token)


def log_out(rt: Runtime, *, session_id: int) -> None:
    with rt.database.transaction() as tx:
        web_sessions.end_session(tx, session_id=session_id, at=rt.now())


def log_out_everywhere(rt: Runtime, *, user_id: int) -> None:
    """End every session of the user, this one included."""
    with rt.database.transaction() as tx:
        web_sessions.end_sessions_of(tx, user_id=user_id, at=rt.now())
