"""Drill (b): a worker SIGKILLed in the middle of a batch, then back.

One batch of twelve deliveries goes to a single worker. The receiver answers four posts and holds
every later one without answering, so once it has counted four plus `delivery_concurrency` posts
the worker is certainly inside that many sends: four are sent, those are on the wire (each claimed
right before its post), the rest are queued, reserved to the worker. Then the kill:
- the whole worker (main process and pool, `killpg`), restarted by the drill: its message stays
  unacknowledged in Redis (the broker would hand it out again only after its visibility timeout,
  an hour); the scheduler's sweep republishes the unsent deliveries once the lease of the posts
  in flight and the reservation of the rest have run out (6 s), and the worker sends them;
- only its pool process: the main process sees the child die and, with
  `task_reject_on_worker_lost`, puts the message straight back; the new pool process takes it and
  sends the queued ones at once, and those that were in flight once their lease has run out.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

from tests.drills.stack import ON_POSTGRESQL, Drill, ago, eventually
from tests.workers.celery_worker import CeleryWorker

pytestmark = ON_POSTGRESQL

BATCH = 12
ANSWERED = 4  # posts the receiver answers before it holds the rest


def kill_pool_process(worker: CeleryWorker) -> None:
    [pool_pid] = worker.pool_pids()
    os.kill(pool_pid, signal.SIGKILL)
    # The main process replaces it; wait for the new one, so the drill goes on with a worker.
    eventually(lambda: worker.pool_pids() not in ([], [pool_pid]), "a new pool process")


@pytest.mark.parametrize(
    ("target", "concurrency"), [("whole worker", 1), ("pool process", 1), ("whole worker", 4)]
)
def test_a_worker_killed_mid_batch_repeats_only_the_posts_in_flight(
    drill: Drill, target: str, concurrency: int
) -> None:
    due = drill.reminder_ids[:BATCH]
    overrides = {"delivery_batch_size": BATCH, "delivery_concurrency": concurrency}
    worker = drill.worker(overrides=overrides)
    drill.scheduler("only", overrides=overrides)
    drill.receiver.hold_after(ANSWERED)
    drill.make_due(due, ago(minutes=1))

    drill.receiver.wait_for(lambda r: r.raw_posts == ANSWERED + concurrency, timeout=30)
    in_flight = {post.key for post in drill.receiver.posts()[ANSWERED:]}
    if target == "whole worker":
        worker.kill()
    else:
        kill_pool_process(worker)  # (its successor may already be posting, held as well)
    rows = drill.deliveries(due)
    drill.receiver.release()  # the answers to the dead worker's posts go to a dead socket
    sent = [row for row in rows if row.status == "sent"]
    assert len(sent) == ANSWERED, "each send is recorded in its own transaction"
    unsent = Counter(row.status for row in rows if row not in sent)
    if target == "whole worker":
        # Only the posts on the wire hold a lease; the rest wait, reserved, and are not lost.
        assert unsent == {"sending": concurrency, "queued": BATCH - ANSWERED - concurrency}
    else:
        assert set(unsent) <= {"sending", "queued"}, "leased or reserved, not lost"
    if target == "whole worker":
        worker.start()

    drill.wait_all_sent(due)
    drill.finish()
    rows = drill.assert_exactly_once(due, repeated_posts=concurrency)
    # The repeats are the posts that were on the wire when the worker died: the worker could not
    # record that they were sent, so after the lease they were sent again, under the same keys,
    # which is what lets a receiver that honours Idempotency-Key drop them. Nothing else went
    # twice.
    assert drill.receiver.repeated() == dict.fromkeys(in_flight, 2)
    attempts = {row.key: row.attempts for row in rows}
    # Only the posts in flight were claimed twice; the others were claimed once, when they went.
    assert sorted(attempts.values()) == [1] * (BATCH - concurrency) + [2] * concurrency
    assert {key for key, tries in attempts.items() if tries == 2} == in_flight
