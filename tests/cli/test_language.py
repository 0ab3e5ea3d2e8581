"""The command speaks the reader's language: Chinese by default, English with PLANFLOW_LANG=en.

The rest of the suite runs in English (tests/conftest.py); these tests ask for Chinese and give
the process its English back afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.i18n import set_language
from tests.cli.conftest import Cli
from tests.cli.test_cli import school_plan, setup_directory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PLANFLOW_LANG", "zh_CN")
    yield
    set_language("en")


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    return path


def test_errors_are_printed_in_chinese(cli: Cli, chinese: None, empty: Path) -> None:
    refused = cli("template", "validate", empty)
    assert (refused.code, refused.err) == (1, f"错误：{empty}: 文件是空的\n")


def test_errors_are_printed_in_english_for_operators(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, empty: Path
) -> None:
    monkeypatch.setenv("PLANFLOW_LANG", "en")
    assert cli("template", "validate", empty).err == f"error: {empty}: the file is empty\n"


def test_a_refused_action_says_what_to_do_in_chinese(cli: Cli, chinese: None) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    assert cli("act", "1", "submit", "--as", "chen").code == 0
    refused = cli("act", "1", "return", "--as", "zhao")
    assert (refused.code, refused.err) == (1, "错误：执行“return”须填写理由（--comment）\n")


def test_a_language_planflow_does_not_speak_is_refused_in_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANFLOW_LANG", "fr")
    try:
        refused = cli("plan", "list", "--as", "chen")
    finally:
        set_language("en")
    assert (refused.code, refused.err) == (
        1,
        "错误：PLANFLOW_LANG='fr': not a language of Planflow (expected zh_CN for people or en)\n",
    )


def test_chinese_is_the_default(empty: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PLANFLOW_LANG"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "template", "validate", str(empty)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (1, f"错误：{empty}: 文件是空的\n")


def test_states_and_roles_are_shown_by_their_titles_with_the_id_beside(
    cli: Cli, chinese: None
) -> None:
    setup_directory(cli)
    created = cli("plan", "create", "--file", school_plan(), "--as", "chen")
    assert created.out == "计划 #1：create：已创建，处于草稿 (draft)，第 1 版\n"
    submitted = cli("act", "1", "submit", "--as", "chen")
    assert submitted.out.startswith("计划 #1：submit：草稿 (draft) → 镇工会审核 (township_review)")
    listed = cli("plan", "list", "--as", "chen").out.splitlines()
    assert listed[0].split() == ["#", "单位", "年度", "状态", "名称"]
    assert "镇工会审核 (township_review)" in listed[2]
    shown = cli("plan", "show", "1", "--as", "chen").out
    assert "待办任务：镇工会审核人 (township_reviewer)" in shown


def test_json_keeps_the_ids_alone_in_every_language(cli: Cli, chinese: None) -> None:
    setup_directory(cli)
    assert cli("plan", "create", "--file", school_plan(), "--as", "chen").code == 0
    listed = json.loads(cli("plan", "list", "--as", "chen", "--json").out)
    assert [p["state"] for p in listed] == ["draft"]
