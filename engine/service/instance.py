"""What a deployment keeps about itself: the session cookie's signing key."""

from __future__ import annotations

import logging
import secrets

from engine.service.runtime import Runtime
from engine.store import Database
from engine.store.instance_secrets import keep_secret

log = logging.getLogger("planflow.http")
COOKIE_KEY = "session-cookie-key"


def cookie_secret(rt: Runtime) -> str:
    """`PLANFLOW_SECRET_KEY`, else the key this database keeps (made on first use, shared by
    every process on it). With no usable database, a key for this process alone: logins then
    end when it stops, which is said in the log."""
    configured = rt.settings.secret_key
    if configured is not None:
        return configured.get_secret_value()
    try:
        with rt.database.transaction() as tx:
            return keep_secret(tx, name=COOKIE_KEY, value=secrets.token_urlsafe(48))
    except Exception as error:  # a database not reachable or not initialised yet
        if not Database.is_database_error(error):
            raise
        log.warning("no database to keep the session key in; logins end when this process does")
        return secrets.token_urlsafe(48)
