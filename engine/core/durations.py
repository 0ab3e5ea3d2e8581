"""Durations as written in templates: `7d`, `12h`, `2w`, `5wd` (working days), optionally signed.

Parsing is pure; turning a duration into a moment needs a `WorkCalendar` (see `calendar.py`)
because working days skip weekends and public holidays and count make-up workdays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_DURATION = re.compile(r"^\s*([+-]?)(\d{1,5})\s*(wd|d|h|w)\s*$")


class DurationUnit(StrEnum):
    HOURS = "h"
    DAYS = "d"
    WEEKS = "w"
    WORKING_DAYS = "wd"


@dataclass(frozen=True)
class Duration:
    """A signed amount of hours, days, weeks or working days."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"

    @property
    def is_negative(self) -> bool:
        return self.amount < 0


def parse_duration(text: str, *, allow_negative: bool = False) -> Duration:
    """Parse `7d`, `12h`, `2w`, `5wd` (and `-3d` when `allow_negative`).

    Raises `ValueError` with a message fit for a user: the template loader turns it into a
    located problem.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a whole number and a unit: "
            "h (hours), d (days), w (weeks) or wd (working days), e.g. 7d or 5wd"
        )
    sign, number, unit = match.groups()
    if sign == "-" and not allow_negative:
        raise ValueError(f"{text!r}: a negative duration is not allowed here")
    amount = -int(number) if sign == "-" else int(number)
    return Duration(amount=amount, unit=DurationUnit(unit))
