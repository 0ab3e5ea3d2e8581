"""The long-running commands: `planflow worker`, `planflow scheduler`, `planflow serve`.

Refusals run in-process through `main`; the commands that run until stopped run as real
subprocesses (`python -m engine …`) that are stopped with SIGTERM, as a service manager would.
`/healthz` is also checked in-process with FastAPI's TestClient, for the states a running server
is hard to put in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings, get_settings
from engine.cli.main import main
from engine.cli.processes import WORKER_NEEDS_BROKER
from engine.http.app import create_app
from engine.service.runtime import open_runtime
from engine.store.migrate import head_revision
from tests.workers.redis_server import free_port
from workers.scheduler import build_scheduler

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[dict[str, str]]:
    """PLANFLOW_* for an initialised SQLite database in embedded mode, here and for children."""
    for name in list(os.environ):
        if name.startswith("PLANFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PLANFLOW_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PLANFLOW_SWEEP_INTERVAL_SECONDS", "0.2")
    monkeypatch.setenv("PLANFLOW_LANG", "en")  # the suite reads English (tests/conftest.py)
    get_settings.cache_clear()
    yield dict(os.environ)
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_the_worker_refuses_to_start_without_a_broker(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "worker") == (1, f"error: {WORKER_NEEDS_BROKER}\n")


def test_serve_without_a_scheduler_needs_a_broker(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "serve", "--no-scheduler")
    assert code == 1
    assert err.startswith("error: --no-scheduler needs PLANFLOW_BROKER_URL")


def test_the_scheduler_refuses_a_database_that_was_never_initialised(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()  # a file that exists but has no schema; a missing one is refused sooner
    monkeypatch.setenv("PLANFLOW_DATABASE_URL", f"sqlite:///{empty}")
    get_settings.cache_clear()
    code, err = run(capsys, "scheduler")
    assert code == 1
    assert err.startswith("error: the database ")
    assert err.endswith("is not initialised or is older than this Planflow; run `planflow init`\n")


class Process:
    """A `planflow` subprocess whose stderr (its log) goes to a file."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        self.log_path = tmp_path / f"{args[0]}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine", *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged in {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def test_the_scheduler_runs_until_sigterm_and_stops_cleanly(
    env: dict[str, str], tmp_path: Path
) -> None:
    scheduler = Process(tmp_path, env, "scheduler")
    try:
        scheduler.wait_for("scheduler started (embedded mode, no lock), a cycle every 0.2 s")
        time.sleep(0.5)  # a few (idle) cycles
    finally:
        code = scheduler.terminate()
    log = scheduler.log()
    assert code == 0, log
    assert "SIGTERM received; stopping the scheduler" in log
    assert log.rstrip().endswith("planflow.scheduler: scheduler stopped")
    assert "Traceback" not in log


def test_serve_answers_healthz_and_runs_the_scheduler(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    server = Process(tmp_path, env, "serve", "--port", str(port))
    try:
        server.wait_for(f"Uvicorn running on http://127.0.0.1:{port}")
        server.wait_for("scheduler started")
        # The first cycle runs at start, but how soon it ends depends on the machine's load:
        # ask until it has, rather than sleeping for a guess.
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                status, health = response.status, json.load(response)
            if health["scheduler"]["cycles"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        code = server.terminate()
    log = server.log()
    assert code == 0, log
    assert status == 200
    assert health["status"] == "ok"
    assert health["mode"] == "embedded"
    assert health["database"] == {
        "reachable": True,
        "revision": head_revision(),
        "expected": head_revision(),
        "error": None,
    }
    scheduler = health["scheduler"]
    assert (scheduler["running"], scheduler["leader"], scheduler["lock"]) == (True, True, "no lock")
    assert scheduler["cycles"] >= 1
    assert scheduler["last_cycle"].startswith("timers fired 0, escalations 0;")
    assert scheduler["last_cycle_at"] is not None
    assert "scheduler stopped" in log  # the lifespan's shutdown ran


def healthz(settings: Settings, *, with_scheduler: bool = False) -> tuple[int, dict[str, Any]]:
    rt = open_runtime(settings)
    scheduler = build_scheduler(rt) if with_scheduler else None
    try:
        with TestClient(create_app(rt, scheduler=scheduler)) as client:
            if scheduler is not None:
                assert scheduler.status().running  # started by the app's lifespan
            response = client.get("/healthz")
        if scheduler is not None:
            assert not scheduler.status().running  # and stopped by it
        return response.status_code, response.json()
    finally:
        rt.database.dispose()


def test_healthz_is_503_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    status, health = healthz(Settings(database_url=url))
    assert status == 503
    assert health["status"] == "degraded"
    assert health["database"]["reachable"] is False
    assert "Connection refused" in health["database"]["error"]
    assert health["scheduler"] is None


def test_healthz_is_503_when_the_database_is_not_initialised(tmp_path: Path) -> None:
    status, health = healthz(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert status == 503
    assert health["database"]["reachable"] is True
    assert health["database"]["revision"] is None


def test_healthz_in_celery_mode_without_a_scheduler(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, broker_url="redis://127.0.0.1:1/0")
    status, health = healthz(settings)
    assert (status, health["status"], health["mode"]) == (200, "ok", "celery")
    assert health["scheduler"] is None


def test_the_app_lifespan_starts_and_stops_the_scheduler(sqlite_url: str) -> None:
    status, health = healthz(Settings(database_url=sqlite_url), with_scheduler=True)
    assert status == 200
    assert health["scheduler"]["running"] is True
