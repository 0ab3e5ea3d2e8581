"""The `planflow` command end to end (in-process), on a SQLite file: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import get_settings
from engine.demo import plan_files
from tests.cli.conftest import Cli
from workflows import bundled_templates


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"  # empty: the tests run `planflow init`


def setup_directory(cli: Cli) -> None:
    assert cli("init").code == 0
    assert cli("template", "load", *bundled_templates()).code == 0
    for args in (
        ("org", "create", "county", "县总工会"),
        ("org", "create", "zishan-town", "梓山镇工会", "--parent", "county"),
        ("org", "create", "zishan-middle-school", "梓山中学工会", "--parent", "zishan-town"),
        (
            "user",
            "create",
            "chen",
            "--name",
            "陈静",
            "--org",
            "zishan-middle-school",
            "--role",
            "drafter",
        ),
        (
            "user",
            "create",
            "zhao",
            "--name",
            "赵志强",
            "--org",
            "zishan-town",
            "--role",
            "township_reviewer",
        ),
        (
            "user",
            "create",
            "wang",
            "--name",
            "王建国",
            "--org",
            "county",
            "--role",
            "county_approver",
        ),
    ):
        result = cli(*args)
        assert result.code == 0, result.err


def school_plan() -> Path:
    return next(p for p in plan_files() if p.name.startswith("zishan-middle-school"))


def test_a_plan_through_review_from_the_command_line(cli: Cli) -> None:
    setup_directory(cli)
    created = cli("plan", "create", "--file", school_plan(), "--as", "chen")
    assert created.code == 0, created.err
    assert created.out == "plan #1: create: created in draft, version 1\n"

    assert cli("act", "1", "submit", "--as", "chen").out.startswith(
        "plan #1: submit: draft → township_review"
    )
    inbox = json.loads(cli("inbox", "--as", "zhao", "--json").out)
    assert [(e["plan"], e["actions"]) for e in inbox] == [(1, ["approve", "return"])]

    refused = cli("act", "1", "return", "--as", "zhao")
    assert (refused.code, refused.out) == (1, "")
    assert refused.err == "error: 'return' needs a comment saying why (--comment)\n"

    assert cli("act", "1", "return", "--as", "zhao", "--comment", "请补充", "--key", "r1").code == 0
    again = cli("act", "1", "return", "--as", "zhao", "--comment", "请补充", "--key", "r1")
    assert "repeated request: nothing changed" in again.out

    history = json.loads(cli("plan", "history", "1", "--as", "chen", "--json").out)
    assert [(h["action"], h["actor"], h["to"]) for h in history] == [
        ("create", "陈静", "draft"),
        ("submit", "陈静", "township_review"),
        ("return", "赵志强", "draft"),
    ]
    shown = json.loads(cli("plan", "show", "1", "--as", "chen", "--json").out)
    assert (shown["state"], shown["version"], shown["possible"]) == (
        "draft",
        3,
        ["submit", "plan edit"],
    )
    # The drafter sees who returned it, when and why: in `plan show` and in the inbox.
    returned = shown["returned"]
    assert (returned["by"], returned["by_username"], returned["from"], returned["reason"]) == (
        "赵志强",
        "zhao",
        "township_review",
        "请补充",
    )
    shown_text = cli("plan", "show", "1", "--as", "chen").out
    assert "returned by 赵志强 on " in shown_text and " from 镇工会审核: 请补充\n" in shown_text
    [entry] = json.loads(cli("inbox", "--as", "chen", "--json").out)
    assert (entry["plan"], entry["state"], entry["actions"], entry["returned"]["reason"]) == (
        1,
        "draft",
        ["submit", "plan edit"],
        "请补充",
    )
    inbox_text = cli("inbox", "--as", "chen").out
    assert "RETURNED" in inbox_text and "submit, plan edit" in inbox_text
    assert "plan #1: returned by 赵志强 on " in inbox_text
    assert "RETURNED" not in cli("inbox", "--as", "zhao").out
    diagram = cli("template", "diagram", "annual-work-plan", "--plan", "1", "--as", "chen")
    assert diagram.code == 0 and "stateDiagram-v2" in diagram.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("act", "1", "submit", "--as", "nobody"), "error: no user 'nobody'"),
        (("act", "99", "submit", "--as", "chen"), "error: no plan #99"),
        (("act", "1", "approve", "--as", "chen"), "error: 'approve' is not possible while"),
        (("act", "1", "submit", "--as", "zhao"), "error: you may not 'submit' this plan"),
        (("org", "create", "Bad Code", "x"), "error: organisation code 'Bad Code' is not valid"),
        (("user", "grant", "chen", "drafter"), "error: chen already holds the role drafter"),
        (
            ("user", "grant", "chen", "county_aprover"),
            "error: no loaded template defines the role 'county_aprover'; did you mean "
            "'county_approver'?",
        ),
        (
            ("user", "create", "he", "--name", "何", "--org", "county", "--role", "no_such_role"),
            "error: no loaded template defines the role 'no_such_role'; roles the loaded "
            "templates define: county_approver, drafter, township_reviewer",
        ),
    ],
)
def test_user_errors_are_one_line_and_exit_1(cli: Cli, args: tuple[str, ...], message: str) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    result = cli(*args)
    assert result.code == 1
    assert result.err.startswith(message), result.err
    assert "Traceback" not in result.err and result.err.count("\n") == 1


def test_plan_file_naming_an_unknown_organisation(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    text = (
        school_plan()
        .read_text(encoding="utf-8")
        .replace("org: zishan-middle-school", "org: no-such-union")
    )
    bad = tmp_path / "plan.yaml"
    bad.write_text(text, encoding="utf-8")
    result = cli("plan", "create", "--file", bad, "--as", "chen")
    assert result.code == 1
    assert result.err.startswith(f"error: {bad}: org: no organisation 'no-such-union'")


def test_usage_errors_exit_2_and_uninitialised_database_says_what_to_do(cli: Cli) -> None:
    assert cli("act").code == 2
    result = cli("plan", "list", "--as", "chen")
    assert result.code == 1
    assert "run `planflow init`" in result.err


def test_template_validate_reports_file_line_and_column(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    source = bundled_templates()[0].read_text(encoding="utf-8")
    broken.write_text(
        source.replace(
            "task: {role: county_approver, due: 10wd, sign: all}",
            "tsak: {role: county_approver, due: 10wd, sign: all}",
        ),
        encoding="utf-8",
    )
    result = cli("template", "validate", broken)
    assert result.code == 1
    assert result.err.startswith(f"error: {broken}:")
    assert "did you mean 'task'?" in result.err


def test_a_loaded_version_cannot_change(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").code == 0
    original = bundled_templates()[0]
    assert cli("template", "load", original).code == 0
    assert "already loaded (same content)" in cli("template", "load", original).out
    changed = tmp_path / original.name
    changed.write_text(
        original.read_text(encoding="utf-8").replace("due: 20d", "due: 25d"), encoding="utf-8"
    )
    refused = cli("template", "load", changed)
    assert refused.code == 1 and "give your change a new version (version: 2)" in refused.err
    changed.write_text(
        changed.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8"
    )
    assert cli("template", "load", changed).code == 0
    listed = json.loads(cli("template", "list", "--json").out)
    assert [(t["name"], t["version"]) for t in listed] == [
        ("annual-work-plan", 1),
        ("annual-work-plan", 2),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"org: !!python/object/apply:os.system ['echo hi']\n",
            ":1:6: tags that build objects are not allowed: !!python/object/apply:os.system",
        ),
        (b"org: zishan\x00\x01\n", ": binary data: NUL byte at byte offset 11"),
        (
            b'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
            + b"".join(
                f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n".encode()
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            ),
            "alias bomb",
        ),
        (b"year: 2027\n  title: [\n", ": YAML syntax:"),
    ],
)
def test_hostile_plan_files_are_refused_with_a_location(
    cli: Cli, tmp_path: Path, content: bytes, message: str
) -> None:
    setup_directory(cli)
    bad = tmp_path / "plan.yaml"
    bad.write_bytes(content)
    result = cli("plan", "create", "--file", bad, "--as", "chen")
    assert result.code == 1
    assert result.err.startswith(f"error: {bad}")
    assert message in result.err, result.err
    assert "Traceback" not in result.err
    assert json.loads(cli("plan", "list", "--as", "chen", "--json").out) == []


def test_an_unreachable_database_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANFLOW_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    get_settings.cache_clear()
    result = cli("plan", "list", "--as", "chen")
    assert result.code == 1
    assert result.err.startswith("error: cannot reach the database")
    assert result.err.count("\n") == 1, result.err


def test_revoking_and_deactivating_hand_over_open_tasks(cli: Cli) -> None:
    setup_directory(cli)
    more = ("user", "create", "li", "--name", "李秀英", "--org", "county", "--role")
    assert cli(*more, "county_approver").code == 0
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    assert cli("act", "1", "submit", "--as", "chen").code == 0
    refused = cli("user", "revoke", "zhao", "township_reviewer")
    assert (refused.code, refused.out) == (1, "")
    assert refused.err.startswith(
        "error: cannot revoke township_reviewer from zhao: plan #1 (梓山中学工会 2027, "
        "township_review): nobody else holds the role township_reviewer"
    )
    assert refused.err.count("\n") == 1
    assert cli("act", "1", "approve", "--as", "zhao").code == 0
    assert cli("act", "1", "approve", "--as", "wang").code == 0
    assert cli("user", "deactivate", "zhao").code == 0  # no open task waits on zhao now
    deactivated = cli("user", "deactivate", "li")
    assert deactivated.code == 0, deactivated.err
    assert deactivated.out == (
        "li deactivated\n"
        "plan #1: reassign: signers left: none\n"
        "plan #1: approve: county_approval → executing: every signer left had approved\n"
    )
    acting = cli("inbox", "--as", "li")
    assert (acting.code, acting.err) == (1, "error: li is deactivated and can no longer act\n")
    users = json.loads(cli("user", "list", "--json").out)
    assert {u["username"]: u["active"] for u in users} == {
        "chen": True,
        "zhao": False,
        "wang": True,
        "li": False,
    }
    history = json.loads(cli("plan", "history", "1", "--as", "chen", "--json").out)
    assert [(h["action"], h["to"]) for h in history][-2:] == [
        ("reassign", "county_approval"),
        ("approve", "executing"),
    ]


def test_every_inbox_column_has_a_header(cli: Cli) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    assert cli("act", "1", "submit", "--as", "chen").code == 0
    header, rule, row = cli("inbox", "--as", "zhao").out.splitlines()
    assert header.split() == ["plan", "org", "step", "due", "flags", "actions"]
    assert len(rule.split()) == 6  # one rule per column: none is unnamed
    assert row.split()[0] == "1" and row.endswith("approve, return")


def test_items_show_the_day_they_are_really_due(cli: Cli) -> None:
    """`due_day: 31` in June is the 30th (the month's end); no due day is the month's last day."""
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    rows = {
        line.split()[-1]: line.split()[2:-1]
        for line in cli("plan", "show", "1", "--as", "chen").out.splitlines()
        if "月" in line and line.split()[0].isdigit()
    }
    assert rows["工会上半年工作总结"] == ["30", "月末"]  # written as 31
    assert rows["教职工健康体检并建立健康档案"] == ["30", "月末"]  # April, no due day
    assert rows["“金秋助学”活动"] == ["25"]
    items = json.loads(cli("plan", "show", "1", "--as", "chen", "--json").out)["items"]
    june = next(i for i in items if i["title"] == "工会上半年工作总结")
    assert (june["due_day"], june["due_date"]) == (31, "2027-06-30")
