"""A private `redis-server` for tests that stop and restart Redis.

The lock and fault-drill tests must be able to kill Redis without touching the machine's shared
server on 6379, so each starts its own on a free localhost port, in a temporary directory, with
persistence off (`--save "" --appendonly no`): a restart comes back empty, as after a crash of a
cache-only Redis. `start()` waits until the server answers PING; `stop()` terminates it; calling
`start()` again reuses the same port, so clients configured with `url` reconnect to it.

    with running_redis(tmp_path) as server:
        settings = Settings(broker_url=server.url, ...)
        server.stop(); ...; server.start()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.services import unavailable

START_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    """A localhost port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class RedisServer:
    """One `redis-server` process on 127.0.0.1, started and stopped at will."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.log_path = directory / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("Redis", "the redis-server binary is not on PATH")
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                str(binary),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--dir", str(self.directory), "--logfile", str(self.log_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited at start: {self._log_tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer PING: {self._log_tail()}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Terminate the server (its data is gone: persistence is off)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:])


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A started `RedisServer` in `directory`, stopped on exit whatever happened."""
    server = RedisServer(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
