"""The demo: a small union tree and its 2027 plans, driven through a year by the real service.

The plans are six annual work plans as plan files (DESIGN.md §4) of two township unions (梓山镇,
松山镇) and four grassroots unions below them (`world.py`), written from real union work plans so
that `planflow demo` (`run.py`) and `planflow simulate` (`simulate.py`: its unions, people and
replay) show believable goals, monthly items and reminders. The files are data only;
`engine.core.planfile` parses them. The demo calls the service and reads through the store's
functions; it returns what happened, and `engine.cli` prints it.
"""

from __future__ import annotations

from pathlib import Path

PLANS_DIR = Path(__file__).parent / "plans"


def plan_files() -> list[Path]:
    """The demo plan files, in name order."""
    return sorted(PLANS_DIR.glob("*.yaml"))
