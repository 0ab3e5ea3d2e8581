"""The demo is an edge like the CLI: it drives the service and reads through the store's
functions, and leaves printing to the CLI.

So `engine/demo` imports nothing of the CLI (the one import that ran upward) and writes no SQL of
its own: no SQLAlchemy, no SQLModel, no tables, statements or driver of the store.
"""

from __future__ import annotations

from pathlib import Path

from tests.test_architecture import ROOT, offending

FORBIDDEN_IN_DEMO = (
    "engine.cli",
    "typer",
    "sqlalchemy",
    "sqlmodel",
    "engine.store.tables",
    "engine.store.statements",
    "engine.store.driver",
    "engine.store.database",
)


def test_the_demo_neither_prints_through_the_cli_nor_writes_sql() -> None:
    assert offending(ROOT, "engine/demo", FORBIDDEN_IN_DEMO) == []


def test_the_check_sees_the_demo_reach_for_the_cli(tmp_path: Path) -> None:
    planted = tmp_path / "engine" / "demo"
    planted.mkdir(parents=True)
    (planted / "bad.py").write_text("from engine.cli.output import table\n")
    assert offending(tmp_path, "engine/demo", FORBIDDEN_IN_DEMO) == [
        "engine/demo/bad.py imports engine.cli.output"
    ]
