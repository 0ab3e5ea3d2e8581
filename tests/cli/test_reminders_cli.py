"""`planflow reminders list|retry` and `planflow simulate` end to end: output, JSON, exit codes.

The reminders reach their states through the service on the same SQLite file the command reads
(see `tests/service/test_reminders_admin.py` for the helpers): a refusing channel makes the first
one dead, and the next ones are sent.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.core.clock import SimulatedClock
from engine.service.runtime import Runtime
from tests.cli.conftest import Cli
from tests.service.test_reminders_admin import FIRST_FIRE, Channel, cycle
from tests.world import live_plan, setup_world


@pytest.fixture
def cli_database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def dead_then_sent(sqlite_rt: Runtime, clock: SimulatedClock) -> tuple[int, int]:
    """A live plan whose first reminder is dead and whose next one (a day later) was sent."""
    setup_world(sqlite_rt)
    plan_id = live_plan(sqlite_rt)
    send = Channel()
    send.refusing = True
    clock.set(FIRST_FIRE)
    cycle(sqlite_rt, send)
    send.refusing = False
    clock.set(FIRST_FIRE + dt.timedelta(days=31))  # 29 January: February's month-start reminder
    cycle(sqlite_rt, send)
    return plan_id, len(send.sent)


def test_list_shows_a_table_and_json_with_deliveries(
    cli: Cli, dead_then_sent: tuple[int, int]
) -> None:
    plan_id, _ = dead_then_sent
    table = cli("reminders", "list", "--status", "dead")
    assert table.code == 0, table.err
    header, rule, row = table.out.splitlines()
    assert header.split() == [
        "id", "plan", "org", "kind", "about", "role", "fires", "status", "retries", "last",
        "error",
    ]  # fmt: skip
    assert set(rule) == {"-", " "}
    assert row.split()[1:] == [
        str(plan_id),
        "梓山中学工会",
        "item_month_start",
        "1月",
        "1月活动",
        "drafter",
        "2026-12-29",
        "09:00",  # the deployment's time zone, not UTC
        "dead",
        "0",
        "try",
        "1:",
        "mailbox",
        "does",
        "not",
        "exist",
    ]

    listed = json.loads(cli("reminders", "list", "--plan", plan_id, "--json").out)
    listed = [r for r in listed if r["kind"].startswith("item_")]
    assert [r["status"] for r in listed[:2]] == ["dead", "sent"]
    assert set(listed[0]) == {
        "id", "plan", "org", "kind", "about", "item", "task", "role", "fire_at", "status",
        "attempts", "last_error", "deliveries",
    }  # fmt: skip
    assert (listed[0]["about"], listed[0]["item"]["month"], listed[0]["task"]) == (
        "1月 1月活动",
        1,
        None,
    )
    assert listed[0]["item"]["title"] == "1月活动"
    tasks = [r for r in json.loads(cli("reminders", "list", "--json").out) if r["task"]]
    assert {r["task"]["state"] for r in tasks} == {"township_review", "county_approval"}
    county = [r for r in tasks if r["task"]["state"] == "county_approval"]
    assert {r["about"] for r in county} == {f"task #{county[0]['task']['id']} 县总工会会签审批"}
    [delivery] = listed[0]["deliveries"]
    assert delivery == {
        "id": delivery["id"],
        "channel": "log",
        "recipient": "chen-school",
        "status": "dead",
        "attempts": 1,
        "next_attempt_at": delivery["next_attempt_at"],
        "last_error": "try 1: mailbox does not exist",
        "sent_at": None,
    }
    assert listed[0]["fire_at"] == "2026-12-29T01:00:00+00:00"  # JSON keeps UTC
    assert listed[1]["deliveries"][0]["sent_at"] is not None
    assert len(json.loads(cli("reminders", "list", "--limit", 1, "--json").out)) == 1


def test_list_refuses_an_unknown_status_in_one_line(cli: Cli, sqlite_rt: Runtime) -> None:
    refused = cli("reminders", "list", "--status", "lost")
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == (
        "error: status: unknown status 'lost'; use one of planned, queued, sent, failed, dead, "
        "cancelled, skipped, missed\n"
    )
    assert cli("reminders", "list", "--plan", 42).err == "error: no plan #42\n"


def test_retry_one_or_every_dead_reminder(cli: Cli, dead_then_sent: tuple[int, int]) -> None:
    plan_id, _ = dead_then_sent
    [dead] = json.loads(cli("reminders", "list", "--status", "dead", "--json").out)
    retried = cli("reminders", "retry", dead["id"])
    assert retried.code == 0, retried.err
    assert retried.out == (
        f"reminder #{dead['id']} (plan #{plan_id}): dead → failed, its failed delivery goes out "
        "again at the next sweep\n"
    )
    assert cli("reminders", "retry", "--dead").out == "0 of 0 dead reminders retried\n"
    # Still failed (the next sweep sends it): retrying again only restarts its tries.
    again = cli("reminders", "retry", dead["id"])
    assert again.code == 0 and "failed → failed" in again.out


def test_retry_dead_lists_each_and_counts(cli: Cli, dead_then_sent: tuple[int, int]) -> None:
    plan_id, _ = dead_then_sent
    [dead] = json.loads(cli("reminders", "list", "--status", "dead", "--json").out)
    outcome = cli("reminders", "retry", "--dead", "--as", "wang-county")
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines() == [
        f"reminder #{dead['id']} (plan #{plan_id}): dead → failed, its failed delivery goes out "
        "again at the next sweep",
        "1 of 1 dead reminders retried",
    ]
    history = json.loads(cli("plan", "history", plan_id, "--as", "wang-county", "--json").out)
    assert (history[-1]["action"], history[-1]["actor"]) == ("retry_reminder", "王建国")


def test_retry_refusals_and_usage_errors(cli: Cli, dead_then_sent: tuple[int, int]) -> None:
    [sent] = json.loads(cli("reminders", "list", "--status", "sent", "--json").out)
    refused = cli("reminders", "retry", sent["id"])
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == (
        f"error: reminder #{sent['id']} is sent: it was delivered; only dead, failed or missed "
        "reminders can be retried\n"
    )
    missing = cli("reminders", "retry", 999)
    assert (missing.code, missing.err) == (
        1,
        "error: no reminder #999; `planflow reminders list` shows them\n",
    )
    for args in ((), (sent["id"], "--dead")):
        usage = cli("reminders", "retry", *args)
        assert usage.code == 2 and "exactly one of a reminder id and --dead" in usage.err


def test_simulate_prints_the_months_and_refuses_a_bad_downtime(cli: Cli) -> None:
    ran = cli("simulate", "--year", 2027, "--plans", 1, "--seed", 2)
    assert ran.code == 0, ran.err
    assert ran.out.startswith("Planflow simulate: 1 plan through 2027 (seed 2)")
    assert "  2027-12 " in ran.out and "plans at the end of the year: closed 1" in ran.out
    bad = cli("simulate", "--downtime", "13-01:2")
    assert bad.code == 2 and "MM-DD:DAYS" in bad.err


def test_list_warns_on_stderr_while_publishing_stalls(
    cli: Cli, sqlite_rt: Runtime, clock: SimulatedClock
) -> None:
    from tests.service.test_publishing import REFUSED, stalled_outbox

    stalled_outbox(sqlite_rt, clock)
    for args in (("reminders", "list"), ("reminders", "list", "--json")):
        shown = cli(*args)
        assert shown.code == 0, shown.err
        assert "warning: 1 batch of reminder deliveries could not be published" in shown.err
        assert REFUSED in shown.err
    assert json.loads(shown.out)  # the warning stays out of the JSON
