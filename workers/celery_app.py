"""The Celery app that carries reminder deliveries, and each worker process's resources.

`celery -A workers.celery_app worker` (what `planflow worker` runs) loads `app`, configured from
the `PLANFLOW_*` settings; `create_app` builds one for other settings (the scheduler of a test,
a benchmark). Messages carry only delivery ids, as JSON; no results are stored, since the
database records every outcome.

Why late acknowledgement is safe here: `engine.service.dispatch.deliver` is idempotent. It claims
each delivery with a lease before sending and skips those already sent or claimed, so a message
that runs twice (a worker killed after sending but before acking, a message restored after the
visibility timeout) sends nothing twice, while one that was never acknowledged is not lost.
`task_reject_on_worker_lost` puts the message of a killed pool process straight back in the
queue; `worker_prefetch_multiplier=1` keeps a worker from holding messages it is not working on,
which a dead worker would otherwise take down with it until the visibility timeout.

Each worker process opens its own `Runtime` (engine and connection pool) after the fork, in
`worker_process_init`, and disposes of it at `worker_process_shutdown`: a pool inherited across
`fork` would share sockets between processes. `worker_resources()` also opens them lazily, for
pools that fork nothing (`-P solo`, `-P threads`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from config.settings import BROKER_VISIBILITY_TIMEOUT_SECONDS, Settings, get_settings
from engine.core.i18n import set_language
from engine.service.runtime import Runtime, open_runtime
from workers.sending import ChannelSender

DELIVER_TASK = "planflow.deliver"

# A message whose worker died without acknowledging it (SIGKILL of the whole worker) comes back
# after this. The database's delivery lease (PLANFLOW_DELIVERY_LEASE_SECONDS) republishes such
# deliveries much sooner, so this is only the broker's own backstop; it must stay longer than a
# batch can take (the settings refuse a batch that could take longer) and than the longest retry
# countdown, or a message runs twice (harmless, but wasted).
VISIBILITY_TIMEOUT_SECONDS = BROKER_VISIBILITY_TIMEOUT_SECONDS


def create_app(settings: Settings) -> Celery:
    """A Celery app for `settings.broker_url` that routes deliveries to `settings.celery_queue`."""
    app = Celery("planflow", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_routes={DELIVER_TASK: {"queue": settings.celery_queue}},
        enable_utc=True,
        timezone="UTC",
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            # Without socket timeouts a publish to a broker that vanished without closing the
            # connection waits forever, and with it the scheduler's cycle.
            "socket_connect_timeout": 5,
            "socket_timeout": 10,
        },
        # Publishing gives up after about a second: the outbox keeps the batch and the next cycle
        # publishes it again, which beats a scheduler blocked on a broker that is down.
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
    )
    return app


app = create_app(get_settings())


@dataclass(frozen=True)
class WorkerResources:
    """What a worker process's tasks share: its runtime and its channels."""

    pid: int
    runtime: Runtime
    send: ChannelSender


_resources: WorkerResources | None = None
_resources_lock = threading.Lock()


def worker_resources() -> WorkerResources:
    """This process's runtime and sender, opened on first use after a fork."""
    global _resources
    with _resources_lock:
        if _resources is None or _resources.pid != os.getpid():
            # A copy inherited from the parent is dropped unclosed: disposing of it here would
            # close the parent's sockets.
            settings = get_settings()
            set_language(settings.lang)  # the workers' edge: delivery errors in this language
            _resources = WorkerResources(
                pid=os.getpid(), runtime=open_runtime(settings), send=ChannelSender(settings)
            )
        return _resources


def _open_process_resources(**_: Any) -> None:
    worker_resources()


def _close_process_resources(**_: Any) -> None:
    global _resources
    with _resources_lock:
        if _resources is not None and _resources.pid == os.getpid():
            _resources.runtime.database.dispose()
            _resources.send.close()
        _resources = None


worker_process_init.connect(_open_process_resources)
worker_process_shutdown.connect(_close_process_resources)
