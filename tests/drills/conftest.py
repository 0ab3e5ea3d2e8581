"""The `drill` fixture: a live plan, a private Redis, a counting webhook; processes ended after."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.service.runtime import open_runtime, system_clock
from tests.drills.stack import Drill, make_live_plan, push_all_ahead
from tests.workers.redis_server import running_redis
from tests.workers.webhook_receiver import WebhookReceiver


@pytest.fixture
def drill(tmp_path: Path, database_url: str) -> Iterator[Drill]:
    rt = open_runtime(
        Settings(database_url=database_url), clock=SimulatedClock(dt.datetime.now(dt.UTC))
    )
    plan_id = make_live_plan(rt)
    rt.clock = system_clock  # from here on the test acts on real time, as its processes do
    reminder_ids = push_all_ahead(rt, plan_id)
    with running_redis(tmp_path / "redis") as redis_server, WebhookReceiver() as receiver:
        drill = Drill(
            directory=tmp_path,
            database_url=database_url,
            rt=rt,
            redis=redis_server,
            receiver=receiver,
            settings={
                "PLANFLOW_DEFAULT_CHANNELS": json.dumps(["webhook"]),
                "PLANFLOW_WEBHOOK_URL": receiver.url,
                "PLANFLOW_SWEEP_INTERVAL_SECONDS": "0.2",
                # The least the settings allow for the webhook at this timeout: 5 network
                # waits of 0.8 s plus a 2 s margin (config/settings.py).
                "PLANFLOW_DELIVERY_LEASE_SECONDS": "6",
                "PLANFLOW_SEND_TIMEOUT_SECONDS": "0.8",
                "PLANFLOW_SCHEDULER_LOCK_SECONDS": "3",
                "PLANFLOW_RETRY_BACKOFF_SECONDS": "1",
                "PLANFLOW_DELIVERY_MAX_ATTEMPTS": "3",
                "PLANFLOW_CATCHUP_WINDOW_DAYS": "3",
            },
            reminder_ids=reminder_ids,
        )
        try:
            yield drill
        finally:
            drill.kill_all()
            rt.database.dispose()
