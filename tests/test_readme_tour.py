"""The README's tour runs exactly as written, so the README cannot drift from the product.

The test reads the ```text block under "A short tour" and runs its lines in order, each through
`bash` as a reader would type it, in a fresh directory holding what a checkout has at the paths
the tour names (`workflows/`, `engine/demo/plans/`) and no `PLANFLOW_*` variable: the database is
the default `planflow.db` there, created by the tour's `planflow init`. Every line must exit 0.

`export NAME=VALUE` and `unset NAME` change the environment of the lines after them, as in a
shell. The commands that run until stopped (`planflow serve`, `scheduler`, `worker`) are started
and must answer (serve: `GET /healthz` 200; scheduler: its start line; worker: Celery's ready
line); the next ordinary line stops every one of them with SIGTERM, and each must then exit 0.
Two things differ from the text, both so that parallel test runs cannot collide: the broker URL
`redis://127.0.0.1:6379/0` is a private `redis-server` on a free port, and port 8000 is a free
port (`--port`, and `PLANFLOW_SERVE_PORT` for a `serve` that names none).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.workers.redis_server import RedisServer, free_port, running_redis

ROOT = Path(__file__).resolve().parents[1]
README_BROKER = "redis://127.0.0.1:6379/0"
README_PORT = "8000"
LINE_TIMEOUT_SECONDS = 300
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


def tour_lines(readme: str) -> list[str]:
    """The command lines of the tour block (blank and comment-only lines left out)."""
    after = readme.split("\n## A short tour\n", 1)[1]
    block = after.split("```text\n", 1)[1].split("\n```", 1)[0]
    return [line for line in block.splitlines() if shlex.split(line, comments=True)]


def long_running(words: list[str]) -> str | None:
    """The command a line starts that runs until stopped, if it is one."""
    if (
        words[:1] == ["planflow"]
        and len(words) > 1
        and words[1] in {"serve", "scheduler", "worker"}
    ):
        return words[1]
    return None


@dataclass
class Service:
    line: str
    command: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        if self.command == "serve":
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False
        if self.command == "scheduler":
            return "scheduler started" in self.log()
        return " ready." in self.log()  # Celery's "celery@host ready."


@dataclass
class Tour:
    directory: Path
    broker_url: str
    env: dict[str, str]
    serve_port: int = field(default_factory=free_port)
    services: list[Service] = field(default_factory=list)
    logs: int = 0

    def run(self, line: str) -> None:
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            self.env[name] = value.replace(README_BROKER, self.broker_url)
            return
        if words[0] == "unset":
            self.stop_services()
            self.env.pop(words[1], None)
            return
        command = long_running(words)
        if command is not None:
            self.start(line, command)
            return
        self.stop_services()
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", line],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            timeout=LINE_TIMEOUT_SECONDS,
        )
        err = done.stderr.decode(errors="replace")
        assert done.returncode == 0, f"{line!r} exited {done.returncode}:\n{err[-3000:]}"

    def start(self, line: str, command: str) -> None:
        port = None
        if command == "serve":
            port = free_port()
            line = line.replace(f"--port {README_PORT}", f"--port {port}")
            if "--port" not in line:
                port = self.serve_port
        self.logs += 1
        log_path = self.directory.parent / f"{self.logs}-{command}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                cwd=self.directory,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(line, command, process, log_path, port)
        self.services.append(service)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not service.ready():
            if process.poll() is not None:
                pytest.fail(f"{line!r} exited {process.returncode} at start:\n{service.log()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{line!r} did not answer in {READY_TIMEOUT_SECONDS} s:\n{service.log()}"
                )
            time.sleep(0.1)

    def stop_services(self) -> None:
        """SIGTERM, as Ctrl-C or a service manager would stop them; each must exit 0."""
        services, self.services = self.services, []
        for service in services:
            service.process.send_signal(signal.SIGTERM)
        for service in services:
            try:
                code = service.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            finally:
                kill_group(service.process)
            assert code == 0, f"{service.line!r} exited {code} on SIGTERM:\n{service.log()}"
            assert "Traceback" not in service.log(), service.log()

    def kill_all(self) -> None:
        for service in self.services:
            kill_group(service.process)
            service.process.wait()
        self.services = []


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """A worker's pool children go with it."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server


def fresh_checkout(directory: Path) -> None:
    """What a checkout has at the paths the tour names, and nothing else."""
    shutil.copytree(ROOT / "workflows", directory / "workflows")
    shutil.copytree(ROOT / "engine" / "demo" / "plans", directory / "engine" / "demo" / "plans")


def test_the_readme_tour_runs_as_written(tmp_path: Path, redis_server: RedisServer) -> None:
    lines = tour_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    directory = tmp_path / "checkout"
    fresh_checkout(directory)
    env = {name: value for name, value in os.environ.items() if not name.startswith("PLANFLOW_")}
    # `planflow` as installed next to this interpreter (the venv's console script).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    tour = Tour(directory, redis_server.url, env)
    tour.env["PLANFLOW_SERVE_PORT"] = str(tour.serve_port)
    try:
        for line in lines:
            tour.run(line)
        tour.stop_services()
    finally:
        tour.kill_all()

    # Where the tour leaves its plan: assessed and closed, the edit from the export a no-op.
    shown = subprocess.run(
        ["planflow", "plan", "show", "1", "--as", "wang", "--json"],
        cwd=directory,
        env=tour.env,
        capture_output=True,
        check=True,
    )
    plan = json.loads(shown.stdout)
    assert (plan["state"], plan["assessment"]["score"]) == ("closed", 95)
    assert {g["key"]: g["actual"] for g in plan["goals"]}["health-checkups"] == 126
    assert (directory / "planflow.db").exists()  # the default database, in the working directory


def test_the_tour_has_the_lines_this_test_relies_on() -> None:
    """The parser finds the block, and its long-running lines are the ones handled above."""
    lines = tour_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert lines[0].startswith("planflow init")
    started = [long_running(shlex.split(line, comments=True)) for line in lines]
    assert {"serve", "scheduler", "worker"} <= set(started)
    assert any(README_BROKER in line for line in lines)
