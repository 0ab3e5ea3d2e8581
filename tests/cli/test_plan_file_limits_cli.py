"""The command line on hostile plan files and unstorable input.

A file far past the size limit is refused without being read whole; a plan file as `json.dumps`
writes it (surrogate escapes) is created; a comment holding bytes that are not UTF-8 is one line
and exit 1; `--json` output stays strict JSON even for numbers written before validation.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.core.yamlsource import MAX_BYTES
from tests.cli.conftest import Cli
from tests.cli.test_cli import setup_directory


@pytest.fixture
def cli_database_url(sqlite_url: str) -> str:
    # SQLite only: each CLI command opens an engine it never disposes (a process ends with the
    # command), which PostgreSQL's driver warns about in-process. The service tests in
    # tests/service/test_plan_storage_limits.py cover both databases.
    return sqlite_url


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


PLAN = {
    "org": "zishan-middle-school",
    "year": 2027,
    "title": "梓山中学工会2027年工作计划🎊",
    "template": "annual-work-plan",
    "goals": [{"key": "members", "title": "发展新会员", "target": 30, "unit": "人"}],
    "items": [{"month": 3, "title": "三八节活动🎊"}],
}


def test_a_huge_plan_file_is_refused_without_reading_it_whole(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.write(b"org: zishan-middle-school\nitems:\n")
        chunk = b"  - {month: 1, title: x}\n" * 40_000
        while out.tell() < 50 * 1024 * 1024:
            out.write(chunk)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = cli("plan", "create", "--file", huge, "--as", "chen")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.code, result.err) == (
        1,
        f"error: {huge}: the file is larger than the limit of 1 MiB\n",
    )
    assert time.perf_counter() - started < 5
    assert peak < 3 * MAX_BYTES  # at most the limit and one byte were read, not 50 MiB


def test_a_plan_file_written_by_json_dumps_is_created_with_its_emoji(
    cli: Cli, tmp_path: Path
) -> None:
    setup_directory(cli)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="ascii")  # 🎊 as "\ud83c\udf8a"
    created = cli("plan", "create", "--file", path, "--as", "chen")
    assert created.code == 0, created.err
    shown = strict_json(cli("plan", "show", "1", "--as", "chen", "--json").out)
    assert (shown["title"], shown["items"][0]["title"]) == (PLAN["title"], "三八节活动🎊")


def test_an_unstorable_plan_file_or_comment_is_one_line(cli: Cli, tmp_path: Path) -> None:
    setup_directory(cli)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**PLAN, "title": "计划\ud83c", "org": "x\0"}), encoding="ascii")
    refused = cli("plan", "create", "--file", path, "--as", "chen")
    assert refused.code == 1 and refused.err.count("\n") == 2, refused.err  # one line each
    assert "'org' contains a NUL character" in refused.err
    assert "'title' contains a lone UTF-16 surrogate (\\ud83c)" in refused.err
    path.write_text(json.dumps(PLAN), encoding="ascii")
    assert cli("plan", "create", "--file", path, "--as", "chen").code == 0
    # A byte that is not UTF-8 in an argument reaches Python as a lone surrogate.
    comment = b"\xff\xfe".decode("utf-8", "surrogateescape")
    result = cli("act", "1", "submit", "--as", "chen", "--comment", comment)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: the comment contains a lone UTF-16 surrogate (\\udcff), which is not a "
        "character; write the character itself or its full surrogate pair\n"
    )


def test_json_output_is_strict_even_for_numbers_stored_before_validation(
    cli: Cli, tmp_path: Path, cli_database_url: str
) -> None:
    setup_directory(cli)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN), encoding="ascii")
    assert cli("plan", "create", "--file", path, "--as", "chen").code == 0
    engine = sa.create_engine(cli_database_url)
    with engine.begin() as connection:  # as a row written by an older version could hold
        connection.execute(sa.text("UPDATE goal SET target = :inf"), {"inf": float("inf")})
        connection.execute(sa.text("UPDATE plan SET assessment_score = :inf"), {"inf": -1e309})
    engine.dispose()
    result = cli("plan", "show", "1", "--as", "chen", "--json")
    assert result.code == 0, result.err
    shown = strict_json(result.out)
    assert shown["goals"][0]["target"] == "Infinity"
    assert shown["assessment"]["score"] == "-Infinity"
