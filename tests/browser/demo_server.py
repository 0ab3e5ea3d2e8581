"""A real `planflow serve --demo` for the browser tests: a subprocess on a free port with its own
SQLite file, started (optionally at a rehearsal moment) and polled on `/healthz` until it
answers, stopped with SIGTERM as a service manager would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from engine.service.runtime import Runtime, open_runtime
from tests.workers.redis_server import free_port

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
PLANFLOW = str(Path(sys.executable).parent / "planflow")  # the venv's console script


@dataclass
class DemoServer:
    """One demo database in `directory`; `start()` and `stop()` a server on it, more than once."""

    directory: Path
    port: int = field(default_factory=free_port)
    rehearsal_time: str | None = None
    _process: subprocess.Popen[bytes] | None = None
    _starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'planflow-demo.db'}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"serve-{self._starts}.log"

    def env(self) -> dict[str, str]:
        env = {
            name: value for name, value in os.environ.items() if not name.startswith("PLANFLOW_")
        }
        env["PLANFLOW_LANG"] = "en"  # the logs; the pages are Chinese whatever it says
        env["PLANFLOW_DATABASE_URL"] = self.database_url  # what `serve --demo` would pick here
        if self.rehearsal_time is not None:
            env["PLANFLOW_REHEARSAL_TIME"] = self.rehearsal_time
        return env

    def planflow(self, *args: str) -> str:
        """Run another `planflow` command on this demo database (in its working directory)."""
        done = subprocess.run(
            [PLANFLOW, *args], cwd=self.directory, env=self.env(), capture_output=True, timeout=120
        )
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"planflow {' '.join(args)} exited {done.returncode}:\n{out}"
        return out

    def start(self) -> None:
        self._starts += 1
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [PLANFLOW, "serve", "--demo", "--port", str(self.port)],
                cwd=self.directory,  # planflow-demo.db lands here
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"planflow serve --demo exited at start:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"planflow serve --demo did not answer:\n{self.log()}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def status_of(self, path: str) -> int:
        """The status a plain GET of `path` answers, redirects not followed."""
        request = urllib.request.Request(f"{self.url}{path}")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT_SECONDS)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        assert code == 0, f"planflow serve --demo exited {code} on SIGTERM:\n{self.log()}"

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def runtime(self) -> Runtime:
        """A runtime on the demo database, for the test's own reads (the truth behind a page)."""
        return open_runtime(Settings(database_url=self.database_url))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
