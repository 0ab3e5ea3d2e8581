"""Celery tasks: thin wrappers that take delivery ids and call the service.

`planflow.deliver` receives one batch of delivery ids (what the scheduler's outbox published) and
runs `engine.service.dispatch.deliver` on them with this worker process's runtime and channels.
Channel failures never reach Celery: `deliver` records them per delivery (retry with backoff in
the database, then `dead`). What does reach it is the infrastructure failing under the whole
batch, the database above all; the task then retries the message with exponential backoff, up to
a few minutes in all, and after that gives the message up with a log line: the deliveries stay
claimed or reserved in the database until their lease ends, and the scheduler's sweep publishes
them again.
So a long outage costs a later delivery, never a lost or doubled one.

`celery_publisher` is the scheduler's side: the `Publish` that sends a batch to this task. It sets
no ETA or countdown; reminders are published when they are due, not before.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Celery, shared_task
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from engine.core.errors import first_line
from engine.service.dispatch import Publish, deliver
from workers.celery_app import DELIVER_TASK, worker_resources

log = logging.getLogger("planflow.worker")

MAX_RETRIES = 8
FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0


def deliver_batch(self: Any, delivery_ids: Any) -> None:
    """Deliver one batch; retried with backoff while the database cannot be reached."""
    ids = _delivery_ids(delivery_ids)
    if ids is None:
        # Retrying cannot fix a malformed message; acknowledging it keeps it from blocking others.
        log.error(
            "ignored a %s message: expected a list of delivery ids, got %r",
            DELIVER_TASK,
            delivery_ids,
        )
        return
    resources = worker_resources()
    try:
        report = deliver(resources.runtime, ids, resources.send)
    except SQLAlchemyError as error:
        if not is_infrastructure_error(error):
            raise
        tries = self.request.retries
        where = f"deliveries {_span(ids)}"
        cause = first_line(error.orig if isinstance(error, DBAPIError) else error)
        if tries >= MAX_RETRIES:
            log.error(
                "%s: the database is still failing after %d retries (%s); giving this message "
                "up, the scheduler publishes them again once their lease ends",
                where,
                tries,
                cause,
            )
            return
        countdown = retry_countdown(tries)
        log.warning("%s: the database failed (%s); retrying in %.0f s", where, cause, countdown)
        raise self.retry(countdown=countdown) from None
    log.info(
        "deliveries %s: %d sent, %d to retry, %d dead, %d already handled",
        _span(ids),
        report.sent,
        report.failed,
        report.dead,
        report.not_claimed,
    )


# Registered on every app, the module's and any `create_app` builds (a test's, a benchmark's).
deliver_task = shared_task(name=DELIVER_TASK, bind=True, max_retries=MAX_RETRIES)(deliver_batch)


def is_infrastructure_error(error: SQLAlchemyError) -> bool:
    """Whether `error` is the database being unreachable or overloaded, not a bad statement."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def retry_countdown(tries: int) -> float:
    """Seconds before retry number `tries + 1`: doubling from 2 s, at most 5 minutes, jittered
    so that workers hit by the same outage do not all come back at the same moment."""
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**tries)
    return random.uniform(ceiling / 2, ceiling)


def celery_publisher(app: Celery) -> Publish:
    """The scheduler's `Publish`: one `planflow.deliver` message per batch, due now."""

    def publish(delivery_ids: list[int]) -> None:
        app.send_task(DELIVER_TASK, args=[list(delivery_ids)])

    return publish


def _delivery_ids(value: Any) -> list[int] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return None
    return value


def _span(ids: list[int]) -> str:
    """A short name for a batch in log lines: "#12" or "#12…#111 (100)"."""
    if len(ids) <= 1:
        return "".join(f"#{i}" for i in ids) or "(none)"
    return f"#{min(ids)}…#{max(ids)} ({len(ids)})"
