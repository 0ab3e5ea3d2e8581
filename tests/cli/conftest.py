"""The CLI as a user runs it: `cli(*args)` runs `planflow` in-process on a test database.

Each test module says which database with a `cli_database_url` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from config.settings import get_settings
from engine.cli.main import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def cli(
    cli_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    monkeypatch.setenv("PLANFLOW_DATABASE_URL", cli_database_url)
    monkeypatch.delenv("PLANFLOW_USER", raising=False)
    get_settings.cache_clear()

    def run(*args: object) -> Outcome:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield run
    get_settings.cache_clear()
