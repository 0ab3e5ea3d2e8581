"""The demo's sandbox: a fresh temporary SQLite database holding the demo's world, and its time.

Shared by `planflow demo` and `planflow simulate`. The demo's moments are written in the
deployment's default time zone (`Asia/Shanghai`), as the people of the demo would say them.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from config.settings import Settings
from engine.core.clock import SimulatedClock
from engine.demo.world import build_world
from engine.service import templates
from engine.service.runtime import Runtime, open_runtime
from engine.store.migrate import upgrade

TZ = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A moment of the demo, on the wall clock of its unions."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


@contextmanager
def demo_runtime(clock: SimulatedClock) -> Iterator[Runtime]:
    """A fresh temporary SQLite database with the bundled templates and the demo's world, on
    `clock`; the database is removed on leaving."""
    with tempfile.TemporaryDirectory(prefix="planflow-demo-") as folder:
        rt = open_runtime(
            Settings(database_url=f"sqlite:///{Path(folder) / 'demo.db'}"), clock=clock
        )
        try:
            upgrade(rt.database)
            templates.load_bundled_templates(rt)
            build_world(rt)
            yield rt
        finally:
            rt.database.dispose()
