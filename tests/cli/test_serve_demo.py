"""`planflow serve --demo`'s database (engine/cli/serve_demo.py): `planflow-demo.db` unless
PLANFLOW_DATABASE_URL names one, migrated and seeded once, the logins printed at every start, and
a rehearsal moment before its recorded events refused. The served pages are walked in a browser
by tests/browser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from config.settings import Settings
from engine.cli.serve_demo import DEMO_DATABASE, demo_runtime
from engine.core.errors import ConfigurationError
from engine.demo.seed import DEMO_PASSWORD
from engine.service import directory
from engine.service.runtime import open_runtime
from engine.store.migrate import upgrade

ADDRESS = "http://127.0.0.1:8000"


def start(settings: Settings) -> list[str]:
    lines: list[str] = []
    rt = demo_runtime(settings, echo=lines.append, address=ADDRESS)
    rt.database.dispose()
    return lines


def test_the_demo_database_is_its_own_file_seeded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PLANFLOW_DATABASE_URL", raising=False)
    first = "\n".join(start(Settings()))
    assert (tmp_path / DEMO_DATABASE).exists() and not (tmp_path / "planflow.db").exists()
    assert "seeded with the demo world" in first and "Plans for" in first
    assert f"{ADDRESS}/login" in first and DEMO_PASSWORD in first
    assert "chen-school" in first and "county_approver" in first

    again = "\n".join(start(Settings()))
    assert "already seeded; not seeded again" in again and DEMO_PASSWORD in again


def test_a_named_database_is_the_one_seeded(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'mine.db'}")
    lines = start(settings)
    assert "seeded with the demo world" in "\n".join(lines)
    assert (tmp_path / "mine.db").exists() and not (tmp_path / DEMO_DATABASE).exists()


def test_a_database_with_other_organisations_is_served_unseeded(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}")
    rt = open_runtime(settings)
    upgrade(rt.database)
    directory.create_org(rt, code="elsewhere", name="别处工会")
    rt.database.dispose()

    lines = "\n".join(start(settings))
    assert "holds organisations but not the demo's people" in lines
    assert DEMO_PASSWORD not in lines
    rt = open_runtime(settings)
    assert [org.code for org in directory.list_orgs(rt)] == ["elsewhere"]
    rt.database.dispose()


def test_a_rehearsal_before_the_seed_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    start(Settings(database_url=url))
    earlier = dt.datetime(2020, 1, 1, 9, 0)
    with pytest.raises(ConfigurationError, match="time cannot go back"):
        start(Settings(database_url=url, rehearsal_time=earlier))
