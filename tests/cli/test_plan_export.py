"""`planflow plan export`: the plan as a plan file that `plan edit` and `plan create` take back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli
from tests.cli.test_cli import school_plan, setup_directory


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def content(cli: Cli, plan_id: int, actor: str = "chen") -> dict[str, Any]:
    """What a plan says, without what belongs to its place in the workflow."""
    shown = json.loads(cli("plan", "show", plan_id, "--as", actor, "--json").out)
    for item in shown["items"]:
        del item["due_date"]  # follows from the year, which a copy may change
    return {key: shown[key] for key in ("title", "template", "sections", "goals", "items")}


def export(cli: Cli, plan_id: int, to: Path) -> str:
    exported = cli("plan", "export", plan_id, "--as", "chen")
    assert (exported.code, exported.err) == (0, "")
    to.write_text(exported.out, encoding="utf-8")
    return exported.out


def test_export_then_edit_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    before = content(cli, 1)
    text = export(cli, 1, tmp_path / "my-plan.yaml")
    assert "梓山中学工会2027年工作计划" in text  # readable, not \u escapes

    edited = cli("plan", "edit", 1, "--file", tmp_path / "my-plan.yaml", "--as", "chen")
    assert (edited.code, edited.err) == (0, ""), edited.err
    assert content(cli, 1) == before
    assert cli("plan", "export", 1, "--as", "chen").out == text


def test_export_of_a_live_plan_amends_nothing(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    for trigger, who in (("submit", "chen"), ("approve", "zhao"), ("approve", "wang")):
        assert cli("act", 1, trigger, "--as", who).code == 0
    assert cli("report", "item", 1, 3, "done", "--as", "chen").code == 0
    before = content(cli, 1)
    export(cli, 1, tmp_path / "live.yaml")
    amended = cli("plan", "edit", 1, "--file", tmp_path / "live.yaml", "--as", "chen")
    assert amended.code == 0, amended.err
    assert content(cli, 1) == before  # item 3 keeps its status
    history = json.loads(cli("plan", "history", 1, "--as", "chen", "--json").out)
    assert history[-1]["action"] == "amend"


def test_export_then_create_elsewhere_reproduces_the_content(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    primary = ("zishan-primary", "梓山小学工会", "--parent", "zishan-town")
    assert cli("org", "create", *primary).code == 0
    zhou = ("--name", "周敏", "--org", "zishan-primary", "--role", "drafter")
    assert cli("user", "create", "zhou", *zhou).code == 0
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    text = export(cli, 1, tmp_path / "exported.yaml")
    moved = text.replace("org: zishan-middle-school", "org: zishan-primary").replace(
        "year: 2027", "year: 2028"
    )
    (tmp_path / "copy.yaml").write_text(moved, encoding="utf-8")
    created = cli("plan", "create", "--file", tmp_path / "copy.yaml", "--as", "zhou")
    assert created.code == 0, created.err
    assert content(cli, 2, "zhou") == content(cli, 1)
    again = cli("plan", "export", 2, "--as", "zhou").out
    assert again == moved


def test_export_is_scoped_like_show(cli: Cli) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    assert cli("user", "create", "sun", "--name", "孙丽华", "--org", "county").code == 0
    refused = cli("plan", "export", 1, "--as", "sun")
    assert (refused.code, refused.out, refused.err) == (1, "", "error: no plan #1\n")


def test_export_keeps_a_goal_that_allows_negative_actuals(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    flagged = tmp_path / "flagged.yaml"
    surplus = "  - {key: surplus, title: 结余变化, target: -2, unit: 万元, allow_negative: true}\n"
    text = school_plan().read_text(encoding="utf-8")
    flagged.write_text(text.replace("goals:\n", "goals:\n" + surplus, 1), encoding="utf-8")
    assert cli("plan", "create", "--file", flagged, "--as", "chen").code == 0
    before = content(cli, 1)
    assert before["goals"][0]["allow_negative"] is True
    text = export(cli, 1, tmp_path / "exported.yaml")
    assert text.count("allow_negative: true") == 1
    edited = cli("plan", "edit", 1, "--file", tmp_path / "exported.yaml", "--as", "chen")
    assert (edited.code, edited.err) == (0, ""), edited.err
    assert content(cli, 1) == before
