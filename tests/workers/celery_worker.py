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

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class CeleryWorker:
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
        self.directory = directory
        self.log_path = directory / f"{self.name}.log"
        self.concurrency = concurrency
        self.queue = queue
        self.env = {
            **os.environ,
            "PLANFLOW_DATABASE_URL": database_url,
            "PLANFLOW_BROKER_URL": broker_url,
            "PLANFLOW_CELERY_QUEUE": queue,
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the worker and wait until it consumes from its queue."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
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
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() reaches the pool
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while " ready." not in self.log(since_start=True):
            if self._process.poll() is not None:
                raise RuntimeError(f"the celery worker exited at start:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the celery worker was not ready:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def pool_pids(self) -> list[int]:
        """The pool processes that run the tasks (children of the main process)."""
        if not self.running or self.pid is None:
            return []
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """Warm shutdown: let running tasks finish, then exit; SIGKILL if it takes too long."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the main process and its pool at once: nothing gets to clean up."""
        if self._process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._reap()

    def log(self, *, since_start: bool = False) -> str:
        """What the worker logged (since the last `start()` if asked)."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[self._log_offset if since_start else 0 :].decode("utf-8", "replace")

    def _reap(self) -> None:
        # Pool processes left behind by a dead main process would keep consuming the queue.
        if self._process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process = None


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
