"""`GET /readyz`: 200 when the database (and Redis, in Celery mode) can serve, else 503 saying
which is not ready."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.http.app import create_app
from engine.service.runtime import Runtime
from engine.store.database import Database
from tests.workers.redis_server import free_port, running_redis


def test_ready_in_embedded_mode(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "database": "ok", "broker": "embedded"}


def test_not_ready_on_an_unmigrated_database(sqlite_rt: Runtime, tmp_path: Path) -> None:
    sqlite_rt.database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(sqlite_rt)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("not initialised")


def test_celery_mode_needs_redis(sqlite_rt: Runtime, tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis") as server:
        sqlite_rt.settings = sqlite_rt.settings.model_copy(update={"broker_url": server.url})
        with TestClient(create_app(sqlite_rt)) as client:
            assert client.get("/readyz").json() == {
                "ready": True,
                "database": "ok",
                "broker": "ok",
            }
            server.stop()
            response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("unreachable")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "not-a-redis-url"])
def test_an_unreachable_broker_is_not_ready(sqlite_rt: Runtime, url: str) -> None:
    broken = url.format(port=free_port())
    sqlite_rt.settings = sqlite_rt.settings.model_copy(update={"broker_url": broken})
    with TestClient(create_app(sqlite_rt)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False
