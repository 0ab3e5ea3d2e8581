"""Printing for the CLI: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import datetime as dt
import json
import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import typer


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    echo: Callable[[str], object] = typer.echo,
    indent: str = "",
) -> None:
    """Columns aligned for the eye, counting CJK characters as two columns wide."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        echo(indent + "  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            echo(indent + "  ".join("-" * w for w in widths))


def as_json(data: Any) -> None:
    """Strict JSON: a non-finite number (from rows older than validation) is written as text."""
    text = json.dumps(
        _finite(data), ensure_ascii=False, indent=2, default=_default, allow_nan=False
    )
    typer.echo(text)


def _finite(value: Any) -> Any:
    """`Infinity` and `NaN` are not JSON: write them as the strings "Infinity", "NaN"."""
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)  # Python's spelling: "Infinity", "-Infinity", "NaN"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def local(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
