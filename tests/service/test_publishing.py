"""A scheduler that cannot publish: batches wait in the outbox, and after a few failed cycles the
backlog is a stall that `/healthz` and `planflow reminders list` show with the broker's error."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from engine.core.clock import SimulatedClock
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.publishing import STALL_ATTEMPTS, publishing_backlog
from engine.service.runtime import Runtime
from tests.service.test_dispatch import Recorder
from tests.world import world_with_live_plan

TZ = ZoneInfo("Asia/Shanghai")
REFUSED = "Error 111 connecting to 127.0.0.1:6390. Connection refused."


def broker_down(_ids: list[int]) -> None:
    raise ConnectionError(REFUSED)


def stalled_outbox(rt: Runtime, clock: SimulatedClock) -> dt.datetime:
    """Sweep one due batch, then fail to publish it for `STALL_ATTEMPTS` cycles."""
    world_with_live_plan(rt)
    swept_at = dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ)
    clock.set(swept_at)
    sweep_reminders(rt)
    for _ in range(STALL_ATTEMPTS):
        publish_outbox(rt, broker_down)
        clock.advance(dt.timedelta(seconds=rt.settings.sweep_interval_seconds))
    return swept_at


def test_nothing_waits_when_every_batch_is_published(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt, in_process(rt, Recorder()))
    assert publishing_backlog(rt) is None


def test_one_failed_publish_waits_but_is_no_stall_yet(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)
    publish_outbox(rt, broker_down)
    backlog = publishing_backlog(rt)
    assert backlog is not None
    assert (backlog.batches, backlog.attempts, backlog.stalled) == (1, 1, False)
    assert backlog.last_error == REFUSED


def test_failing_for_a_few_cycles_is_a_stall_with_the_reason(
    rt: Runtime, clock: SimulatedClock
) -> None:
    swept_at = stalled_outbox(rt, clock)
    backlog = publishing_backlog(rt)
    assert backlog is not None and backlog.stalled
    assert (backlog.batches, backlog.attempts) == (1, STALL_ATTEMPTS)
    assert backlog.waiting_since == swept_at
    assert backlog.last_error == REFUSED
    assert "1 batch of reminder deliveries" in backlog.describe(TZ)
    assert "could not be published in 3 tries" in backlog.describe(TZ)
    assert REFUSED in backlog.describe(TZ)
    # The broker is back: the backlog goes out and the stall is over.
    send = Recorder()
    assert publish_outbox(rt, in_process(rt, send)) == 1
    assert len(send.sent) == 1
    assert publishing_backlog(rt) is None


def test_healthz_is_degraded_with_the_reason_while_publishing_stalls(
    sqlite_rt: Runtime, clock: SimulatedClock
) -> None:
    from fastapi.testclient import TestClient

    from engine.http.app import create_app

    stalled_outbox(sqlite_rt, clock)
    with TestClient(create_app(sqlite_rt)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    health = response.json()
    assert health["status"] == "degraded"
    assert health["publishing"]["stalled"] is True
    assert health["publishing"]["failed_tries"] == STALL_ATTEMPTS
    assert health["publishing"]["error"] == REFUSED
    publish_outbox(sqlite_rt, in_process(sqlite_rt, Recorder()))
    with TestClient(create_app(sqlite_rt)) as client:
        response = client.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")
    assert response.json()["publishing"]["waiting_batches"] == 0
