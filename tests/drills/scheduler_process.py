"""`planflow scheduler` as a subprocess, for the fault drills.

The drills run the real command rather than `workers.scheduler.Scheduler` in the test process:
its settings come from `PLANFLOW_*` variables, it stops on SIGTERM through its own signal
handling, and it can be SIGKILLed or run twice side by side — each with its own Redis client,
connection pool and APScheduler — which is the situation the drills are about. Everything it
logs goes to `log_path`; `start()` returns once it logs that its jobs run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from tests.processes import LoggedProcess

READY_LINE = "scheduler started ("
# The console script `planflow` is this entry point; calling it through the test's interpreter
# needs no script on PATH.
COMMAND = "import sys; from engine.cli.main import run; sys.argv[0] = 'planflow'; run()"


class SchedulerProcess(LoggedProcess):
    """One `planflow scheduler` process, configured through the environment."""

    def __init__(
        self, directory: Path, *, name: str, env: Mapping[str, str], loglevel: str = "INFO"
    ) -> None:
        super().__init__(
            what=f"scheduler {name}", log_path=directory / f"scheduler-{name}.log", env=env
        )
        self.name = name
        self.loglevel = loglevel

    def start(self) -> None:
        """Start the scheduler and wait until its jobs are scheduled (the first cycle is due)."""
        self.spawn(
            [sys.executable, "-c", COMMAND, "scheduler", "--loglevel", self.loglevel],
            ready_line=READY_LINE,
        )
