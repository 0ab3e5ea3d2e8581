"""What `GET /readyz` answers: whether this process can serve requests now, for a load balancer
or an orchestrator to send it traffic (200) or not (503).

Ready means the database answers with this Planflow's schema and, in Celery mode, Redis answers
PING (the scheduler's lock and the reminders' queue live there). Unlike `/healthz` it reads
nothing else, so it stays cheap enough to be asked every few seconds.
"""

from __future__ import annotations

from typing import Literal

import redis
from pydantic import BaseModel

from engine.core.errors import first_line
from engine.http.health import check_database
from engine.service.runtime import Runtime

REDIS_TIMEOUT_SECONDS = 2.0


class Readiness(BaseModel):
    ready: bool
    database: str  # "ok", or why not (unreachable, not migrated, an older or newer schema)
    broker: Literal["ok", "embedded"] | str  # "embedded": no Redis used; else "ok" or why not


def database_state(rt: Runtime) -> str:
    health = check_database(rt.database)
    if not health.reachable:
        return f"unreachable: {health.error}"
    if health.revision is None:
        return "not initialised (planflow db upgrade)"
    if health.revision != health.expected:
        return f"schema {health.revision}, this Planflow needs {health.expected}"
    return "ok"


def broker_state(rt: Runtime) -> str:
    url = rt.settings.broker_url
    if url is None:
        return "embedded"
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as error:
        return f"unreachable: {first_line(error)}"
    return "ok"


def readiness(rt: Runtime) -> Readiness:
    database = database_state(rt)
    broker = broker_state(rt)
    return Readiness(
        ready=database == "ok" and broker in ("ok", "embedded"), database=database, broker=broker
    )
