"""`PLANFLOW_REHEARSAL_TIME` and `planflow cycle run`: rehearsing the year end before it comes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from config.settings import get_settings
from tests.cli.conftest import Cli
from tests.cli.test_cli import school_plan, setup_directory
from tests.workers.redis_server import running_redis


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def pretend(monkeypatch: pytest.MonkeyPatch, moment: str | None) -> None:
    if moment is None:
        monkeypatch.delenv("PLANFLOW_REHEARSAL_TIME", raising=False)
    else:
        monkeypatch.setenv("PLANFLOW_REHEARSAL_TIME", moment)
    get_settings.cache_clear()


def live_plan(cli: Cli) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    for trigger, who in (("submit", "chen"), ("approve", "zhao"), ("approve", "wang")):
        assert cli("act", 1, trigger, "--as", who).code == 0


def state(cli: Cli) -> str:
    shown = json.loads(cli("plan", "show", 1, "--as", "chen", "--json").out)
    return str(shown["state"])


def test_a_cycle_now_leaves_a_plan_of_next_year_executing(cli: Cli) -> None:
    live_plan(cli)
    ran = cli("cycle", "run")
    assert (ran.code, ran.out.startswith("cycle: timers fired 0,")) == (0, True), ran.err
    assert state(cli) == "executing"


def test_a_cycle_at_the_rehearsal_time_fires_the_year_end_timer_and_records_that_time(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_plan(cli)
    pretend(monkeypatch, "2027-12-01T09:00")  # no offset: PLANFLOW_TIMEZONE (Asia/Shanghai)
    ran = cli("cycle", "run")
    assert ran.code == 0, ran.err
    assert ran.out.startswith("cycle: timers fired 1,")
    assert state(cli) == "self_evaluation"
    history = json.loads(cli("plan", "history", 1, "--as", "chen", "--json").out)
    assert (history[-1]["action"], history[-1]["at"]) == (
        "begin_evaluation",
        "2027-12-01T01:00:00+00:00",
    )
    assert cli("report", "goal", 1, "health-checkups", 126, "--as", "chen").code == 0


def test_a_rehearsal_time_cannot_go_back(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    live_plan(cli)
    pretend(monkeypatch, "2027-12-01T09:00+08:00")
    assert cli("cycle", "run").code == 0
    pretend(monkeypatch, "2027-11-30T09:00+08:00")
    refused = cli("plan", "show", 1, "--as", "chen")
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == (
        "error: PLANFLOW_REHEARSAL_TIME=2027-11-30T09:00+0800 is before the last recorded event "
        "(2027-12-01T09:00+0800); time cannot go back\n"
    )
    pretend(monkeypatch, "2027-12-02T09:00+08:00")  # forward is fine
    assert cli("plan", "show", 1, "--as", "chen").code == 0


def test_a_cycle_run_delivers_in_process_without_a_broker(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_plan(cli)
    pretend(monkeypatch, "2027-01-20T09:30")  # item 1 (1月, due on the 20th): its due-day notice
    ran = cli("cycle", "run")
    assert ran.code == 0, ran.err
    assert "reminders queued 1 (1 deliveries)" in ran.out
    sent = json.loads(cli("reminders", "list", "--status", "sent", "--json").out)
    assert [r["kind"] for r in sent] == ["item_due"]


def test_a_cycle_run_publishes_to_the_broker(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    live_plan(cli)
    with running_redis(tmp_path / "redis") as server:
        monkeypatch.setenv("PLANFLOW_BROKER_URL", server.url)
        pretend(monkeypatch, "2027-01-20T09:30")
        ran = cli("cycle", "run")
        assert ran.code == 0, ran.err
        assert ran.out.rstrip().endswith("batches published 1")
        client = redis.Redis.from_url(server.url)
        try:
            assert client.llen("planflow") == 1  # one Celery message, for a worker to deliver
        finally:
            client.close()


def test_cycle_run_exits_1_when_a_plan_failed_so_that_cron_says_so(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.service import timers

    live_plan(cli)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the timer")

    monkeypatch.setattr(timers, "act", broken)
    pretend(monkeypatch, "2027-12-01T09:00")
    ran = cli("cycle", "run")
    assert ran.code == 1
    assert "cycle: timers fired 1" in ran.out
    assert ran.err.endswith(
        "error: 1 of this cycle's steps or plans failed; `planflow cycle failures` says which "
        "and why\n"
    )
    assert state(cli) == "executing"
