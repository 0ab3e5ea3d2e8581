"""`planflow … --help` for every command: each option says what it takes, flags take nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer

from engine.cli.main import app, main


def command_paths() -> Iterator[tuple[str, ...]]:
    def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():  # a group's sub-commands
            yield from walk(sub, (*path, name))

    yield from walk(typer.main.get_command(app), ())


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "planflow")
def test_help_shows_no_value_type_for_flags(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage: planflow" in text
    assert "<bool>" not in text, text
