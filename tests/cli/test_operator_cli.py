"""What an operator is told when a plan is busy or stuck: `planflow act` on a plan another
transaction is changing (one line, exit 1, after the lock timeout), and `planflow cycle
failures`."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from engine.core.clock import SimulatedClock
from engine.service.actions import act
from engine.service.plans import create_plan
from engine.service.templates import load_template
from engine.service.timers import fire_due_timers
from engine.store.database import Database
from engine.store.plans import lock_plan
from tests.cli.conftest import Cli
from tests.conftest import make_runtime
from tests.service.test_timers import GUARDED, TZ
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
        with holder_db.transaction() as holder:
            assert lock_plan(holder, plan_id=plan_id) is not None
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


@pytest.mark.parametrize(
    "command",
    [
        ("user", "revoke", "zhao-zishan", "township_reviewer"),
        ("user", "deactivate", "zhao-zishan"),
        ("org", "create", "new-town", "新镇工会"),
    ],
)
def test_any_write_the_lock_timeout_stops_is_one_line(
    cli: Cli,
    cli_database_url: str,
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    """Not only plan writes: every command that waits out the lock timeout says the database is
    busy, in one line, and changes nothing."""
    rt = make_runtime(cli_database_url, clock)
    setup_world(rt)
    rt.database.dispose()
    monkeypatch.setenv("PLANFLOW_LOCK_TIMEOUT_SECONDS", "0.3")
    holder_db = Database(cli_database_url)
    try:
        with holder_db.transaction():  # SQLite's one writer, held
            refused = cli(*command)
    finally:
        holder_db.dispose()
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == "error: the database is busy with another change; try again\n"
    assert cli(*command).code == 0  # free again: it goes


def test_cycle_failures_lists_what_the_cycle_could_not_do(
    cli: Cli, cli_database_url: str, clock: SimulatedClock
) -> None:
    """A timer refused every time (nobody holds the role of the step it enters) is listed once,
    with its tries, however many cycles ran."""
    rt = make_runtime(cli_database_url, clock)
    try:
        setup_world(rt)
        load_template(rt, content=GUARDED, source="guarded.yaml")
        clock.set(dt.datetime(2026, 11, 20, 10, tzinfo=TZ))
        plan_id = create_plan(rt, spec=small_plan(template="guarded"), actor="chen-school").plan_id
        act(rt, plan_id=plan_id, trigger="submit", actor="chen-school")
        assert cli("cycle", "failures").out == "nothing is failing\n"
        clock.set(dt.datetime(2026, 11, 24, 10, tzinfo=TZ))
        for _ in range(3):
            fire_due_timers(rt)
        clock.advance(dt.timedelta(minutes=1))
        fire_due_timers(rt)
    finally:
        rt.database.dispose()
    [failure] = json.loads(cli("cycle", "failures", "--json").out)
    assert (failure["step"], failure["plan"], failure["what"], failure["attempts"]) == (
        "timer",
        plan_id,
        "file",
        2,
    )
    assert failure["error"].startswith("nobody holds the role archivist")
    listed = cli("cycle", "failures")
    assert listed.code == 0
    assert f"timer  {plan_id}     梓山中学工会  file  2" in listed.out
