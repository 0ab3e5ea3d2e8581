"""Demo data: six 2027 annual work plans of a small union tree, as plan files (DESIGN.md §4).

Two township unions (梓山镇, 松山镇) and four grassroots unions below them, written from real
union work plans so that `planflow demo` and `planflow simulate` show believable goals, monthly
items and reminders. The files are data only; `engine.core.planfile` parses them.
"""

from __future__ import annotations

from pathlib import Path

PLANS_DIR = Path(__file__).parent / "plans"


def plan_files() -> list[Path]:
    """The demo plan files, in name order."""
    return sorted(PLANS_DIR.glob("*.yaml"))
