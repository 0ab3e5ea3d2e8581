"""`planflow act` on a plan another transaction is changing: one line, exit 1, after the timeout."""

from __future__ import annotations

import time

import pytest

from engine.core.clock import SimulatedClock
from engine.service.plans import create_plan
from engine.store.database import Database
from tests.cli.conftest import Cli
from tests.conftest import make_runtime
from tests.world import setup_world, small_plan


@pytest.fixture
def cli_database_url(sqlite_url: str) -> str:
    # SQLite: the in-process CLI never disposes its engine, which on PostgreSQL leaves open
    # connections behind (the service test covers PostgreSQL's lock_timeout).
    return sqlite_url


def test_act_on_a_busy_plan_prints_one_line(
    cli: Cli, cli_database_url: str, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime(cli_database_url, clock)
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    monkeypatch.setenv("PLANFLOW_LOCK_TIMEOUT_SECONDS", "0.3")
    holder_db = Database(cli_database_url)
    try:
        with holder_db.write() as holder:
            assert holder_db.lock_plan(holder, plan_id) is not None
            started = time.monotonic()
            refused = cli("act", plan_id, "submit", "--as", "chen-school")
            waited = time.monotonic() - started
    finally:
        holder_db.dispose()
        rt.database.dispose()
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == f"error: plan #{plan_id} is being changed by someone else; try again\n"
    assert waited < 5, waited
    assert cli("act", plan_id, "submit", "--as", "chen-school").code == 0  # free again: it goes
