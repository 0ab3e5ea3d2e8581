"""A real `celery worker` subprocess for end-to-end and fault-drill tests.

Runs `python -m celery -A workers.celery_app worker -P prefork` with the `PLANFLOW_*` environment
of a given database and broker, so the worker reads its settings exactly as a deployed one does.
`start()` returns once the worker logs that it is ready; `stop()` asks for a warm shutdown
(SIGTERM: running tasks finish); `kill()` sends SIGKILL to the whole process group, the main
process and its pool, as when the machine or the container dies; `pool_pids()` names the pool
processes for drills that kill only one of them. Everything the worker logs goes to `log_path`.

    with running_worker(tmp_path, database_url=url, broker_url=redis.url) as worker:
        ...
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.processes import LoggedProcess


class CeleryWorker(LoggedProcess):
    """One `celery worker` process (and its pool), configured through the environment."""

    def __init__(
        self,
        directory: Path,
        *,
        database_url: str,
        broker_url: str,
        queue: str = "planflow",
        concurrency: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = f"planflow-test-{uuid.uuid4().hex[:8]}"
        super().__init__(
            what="the celery worker",
            log_path=directory / f"{self.name}.log",
            env={
                "PLANFLOW_DATABASE_URL": database_url,
                "PLANFLOW_BROKER_URL": broker_url,
                "PLANFLOW_CELERY_QUEUE": queue,
                **(env or {}),
            },
        )
        self.directory = directory
        self.concurrency = concurrency
        self.queue = queue

    def start(self) -> None:
        """Start the worker and wait until it consumes from its queue."""
        self.spawn(
            [
                *(sys.executable, "-m", "celery", "--app=workers.celery_app", "worker"),
                "--pool=prefork",
                f"--concurrency={self.concurrency}",
                f"--queues={self.queue}",
                f"--hostname={self.name}@%h",
                "--loglevel=INFO",
                # Nothing to learn from other workers, and each costs seconds at start.
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            ready_line=" ready.",
        )

    def pool_pids(self) -> list[int]:
        """The pool processes that run the tasks (children of the main process)."""
        if not self.running or self.pid is None:
            return []
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []


@contextmanager
def running_worker(
    directory: Path,
    *,
    database_url: str,
    broker_url: str,
    queue: str = "planflow",
    concurrency: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[CeleryWorker]:
    """A started `CeleryWorker`, stopped (killed if need be) on exit."""
    worker = CeleryWorker(
        directory,
        database_url=database_url,
        broker_url=broker_url,
        queue=queue,
        concurrency=concurrency,
        env=env,
    )
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
