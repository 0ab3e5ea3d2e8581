"""A service process for tests that need a real one (a Celery worker, `planflow scheduler`).

`LoggedProcess` starts a command with its own environment, sends everything it prints to
`log_path`, waits until a line says it is ready, and stops it as a service manager would
(SIGTERM, then SIGKILL if it takes too long) or kills it outright. `start_new_session` puts it in
a process group of its own, so that `kill()` reaches its children too (a worker's pool).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class LoggedProcess:
    def __init__(self, *, what: str, log_path: Path, env: Mapping[str, str]) -> None:
        self.what = what  # for messages: "scheduler a", "the celery worker"
        self.log_path = log_path
        self.env = {**os.environ, **env}
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def spawn(self, command: Sequence[str], *, ready_line: str) -> None:
        """Start `command` and return once it logs `ready_line`; RuntimeError if it never does."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while ready_line not in self.log(since_start=True):
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.what} exited at start:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.what} was not ready:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it takes too long."""
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
        """SIGKILL the process and its children at once: nothing gets to clean up."""
        if self._process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._reap()

    def log(self, *, since_start: bool = False) -> str:
        """What the process logged (since the last start if asked)."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[self._log_offset if since_start else 0 :].decode("utf-8", "replace")

    def _reap(self) -> None:
        # Children left behind by a dead parent (a worker's pool) would keep consuming work.
        if self._process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process = None
