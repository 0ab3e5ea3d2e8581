"""Drill (a): two schedulers sweeping at the same time, with the leader lock out of the way.

With a shared lock one scheduler stands by and the other works, which proves nothing about
correctness; the design says the lock only saves work. So both schedulers here run cycles:
- "one without Redis": B's broker URL points at a closed port. B cannot take the lock, so it
  runs its cycles anyway, and every publish it tries fails and leaves its batches in the outbox,
  where A, the leader, finds and publishes them;
- "separate locks": A and B use different Redis databases on the same server, so each holds "the"
  lock of its own and publishes to its own worker.
Thirty-six reminders fall due one after another over about two seconds while both sweep every
0.2 s in small batches (4 reminders per transaction), so their sweeps overlap and the row locks
(`FOR UPDATE SKIP LOCKED`) must keep them apart.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.drills.scheduler_process import SchedulerProcess
from tests.drills.stack import ON_POSTGRESQL, Drill
from tests.workers.redis_server import free_port

pytestmark = ON_POSTGRESQL

DUE = 36
SPREAD = dt.timedelta(milliseconds=60)  # between consecutive fire times
SMALL_BATCHES = {"sweep_batch_size": 4, "delivery_batch_size": 4}
QUEUED = re.compile(r"reminders queued (\d+)")


def queued_by(scheduler: SchedulerProcess) -> int:
    """Reminders this scheduler turned into deliveries, from its cycle log lines."""
    return sum(int(n) for n in QUEUED.findall(scheduler.log()))


@pytest.mark.parametrize("lock", ["one without Redis", "separate locks"])
def test_two_schedulers_sweeping_at_once_send_each_reminder_once(drill: Drill, lock: str) -> None:
    due = drill.reminder_ids[:DUE]
    if lock == "one without Redis":
        b_broker = f"redis://127.0.0.1:{free_port()}/0"
        drill.worker()
    else:
        b_broker = drill.redis.url.removesuffix("/0") + "/1"
        drill.worker()
        drill.worker(broker_url=b_broker)
    a = drill.scheduler("a", overrides=SMALL_BATCHES)
    b = drill.scheduler("b", broker_url=b_broker, overrides=SMALL_BATCHES)
    assert "is the active one" in a.log()
    if lock == "one without Redis":
        assert "running cycles anyway" in b.log()
    else:
        assert "is the active one" in b.log()

    start = dt.datetime.now(dt.UTC)
    drill.make_due(due, [start + n * SPREAD for n in range(DUE)])
    drill.wait_all_sent(due)
    drill.finish()

    drill.assert_exactly_once(due)
    # The database's unique delivery keys would hide a reminder claimed by both sweeps (the second
    # would find its delivery written and add none); the schedulers' own counts would not.
    assert queued_by(a) + queued_by(b) == DUE, (queued_by(a), queued_by(b))
