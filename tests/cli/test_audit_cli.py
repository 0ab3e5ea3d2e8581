"""`planflow plan history` with each event's detail, and `planflow audit verify` end to end."""

from __future__ import annotations

import json

import pytest

from engine.service.reporting import report_item
from engine.service.runtime import Runtime
from engine.store import audit_guard
from engine.store.statuses import ItemStatus
from tests.cli.conftest import Cli
from tests.service.test_audit_log import rows_of, without_guard
from tests.world import world_with_live_plan


@pytest.fixture
def cli_database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def plan_id(sqlite_rt: Runtime) -> int:
    plan_id = world_with_live_plan(sqlite_rt)
    report_item(
        sqlite_rt, plan_id=plan_id, actor="chen-school", item_number=1, status=ItemStatus.DONE
    )
    return plan_id


def test_history_shows_details_and_usernames(cli: Cli, plan_id: int) -> None:
    shown = cli("plan", "history", plan_id, "--as", "chen-school", "--json")
    assert shown.code == 0, shown.err
    history = json.loads(shown.out)
    assert [(h["action"], h["actor"], h["actor_username"]) for h in history] == [
        ("create", "陈静", "chen-school"),
        ("submit", "陈静", "chen-school"),
        ("approve", "赵志强", "zhao-zishan"),
        ("approve", "王建国", "wang-county"),
        ("approve", "李秀英", "li-county"),
        ("report_item", "陈静", "chen-school"),
    ]
    assert history[3]["detail"] == {"signed": 1, "of": 2}
    assert history[-1]["detail"] == {"item": 1, "month": 1, "title": "1月活动", "status": "done"}
    assert history[-1]["summary"] == "item 1 (1月 1月活动): done"
    assert history[0]["detail"] is None and history[0]["summary"] == ""

    table = cli("plan", "history", plan_id, "--as", "chen-school").out.splitlines()
    assert table[0].split() == ["at", "who", "action", "from", "→", "to", "comment", "detail"]
    assert table[5].endswith("signed 1 of 2") and table[-1].endswith("item 1 (1月 1月活动): done")


def test_verify_passes_then_names_the_first_broken_link(
    cli: Cli, plan_id: int, sqlite_rt: Runtime
) -> None:
    rows = rows_of(sqlite_rt, plan_id)
    intact = cli("audit", "verify")
    assert (intact.code, intact.out) == (
        0,
        f"audit log intact: 1 plans, {len(rows)} rows checked\n",
    )
    verified = json.loads(cli("audit", "verify", "--plan", plan_id, "--json").out)
    assert verified["ok"] is True and verified["breaks"] == []
    with sqlite_rt.database.engine.connect() as connection:
        head = connection.exec_driver_sql(
            f"SELECT row_hash FROM audit_event WHERE id = {rows[-1]}"
        ).scalar()
    assert verified["heads"] == {str(plan_id): head}  # to keep elsewhere, as an anchor

    with without_guard(sqlite_rt) as connection:
        connection.exec_driver_sql(
            f"UPDATE audit_event SET to_state = 'closed' WHERE id = {rows[2]}"
        )
    broken = cli("audit", "verify")
    assert broken.code == 1
    assert broken.out.splitlines() == [
        f"broken: plan #{plan_id}, row #{rows[2]}: its content does not match its hash: the row "
        "was edited",
        f"audit log NOT intact: 1 plans, {len(rows)} rows checked",
    ]
    as_json = cli("audit", "verify", "--json")
    assert as_json.code == 1
    assert json.loads(as_json.out)["breaks"] == [
        {
            "plan": plan_id,
            "row": rows[2],
            "problem": "its content does not match its hash: the row was edited",
        }
    ]
    missing = cli("audit", "verify", "--plan", 99)
    assert (missing.code, missing.err) == (1, "error: no plan #99\n")


def test_verify_reports_a_dropped_trigger(cli: Cli, plan_id: int, sqlite_rt: Runtime) -> None:
    with sqlite_rt.database.engine.begin() as connection:
        connection.exec_driver_sql(audit_guard.drop_statements("sqlite")[1])
    result = cli("audit", "verify")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "the append-only triggers are missing or disabled, so audit rows could be changed or "
        "deleted: audit_event_no_delete"
    )
