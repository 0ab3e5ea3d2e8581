"""`planflow scheduler` as a subprocess, for the fault drills.

The drills run the real command rather than `workers.scheduler.Scheduler` in the test process:
its settings come from `PLANFLOW_*` variables, it stops on SIGTERM through its own signal
handling, and it can be SIGKILLed or run twice side by side — each with its own Redis client,
connection pool and APScheduler — which is the situation the drills are about. Everything it
logs goes to `log_path`; `start()` returns once it logs that its jobs run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
READY_LINE = "scheduler started ("
# The console script `planflow` is this entry point; calling it through the test's interpreter
# needs no script on PATH.
COMMAND = "import sys; from engine.cli.main import run; sys.argv[0] = 'planflow'; run()"


class SchedulerProcess:
    """One `planflow scheduler` process, configured through the environment."""

    def __init__(
        self, directory: Path, *, name: str, env: Mapping[str, str], loglevel: str = "INFO"
    ) -> None:
        self.name = name
        self.log_path = directory / f"scheduler-{name}.log"
        self.env = {**os.environ, **env}
        self.loglevel = loglevel
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the scheduler and wait until its jobs are scheduled (the first cycle is due)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", COMMAND, "scheduler", "--loglevel", self.loglevel],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while READY_LINE not in self.log(since_start=True):
            if self._process.poll() is not None:
                raise RuntimeError(f"scheduler {self.name} exited at start:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"scheduler {self.name} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the running cycle ends, the lock is released."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None

    def kill(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def log(self, *, since_start: bool = False) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[self._log_offset if since_start else 0 :].decode("utf-8", "replace")
