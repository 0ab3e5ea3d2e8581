"""Drill: a receiver slow enough that one batch outlasts the delivery lease, with no fault at all.

Sixteen deliveries go to one worker in one batch, one post at a time (or thirty-two, two side by
side), and the receiver takes 0.45 s to answer each: 7.2 s for the batch against a 6 s lease
(0.45 s a post is more than lease × concurrency ÷ batch size, 0.375 s). When a batch was claimed
under one lease, the sweep requeued its last deliveries while the worker was still sending them,
the worker took the republished message next and sent them again, and its own "sent" for them
was dropped. Each delivery is now claimed right before its own post, so every key reaches the
receiver exactly once.
"""

from __future__ import annotations

import pytest

from tests.drills.stack import ON_POSTGRESQL, Drill, ago

pytestmark = ON_POSTGRESQL

ANSWER_SECONDS = 0.45  # > lease (6 s) × concurrency ÷ batch size; < the send timeout (0.8 s)


@pytest.mark.parametrize(("batch", "concurrency"), [(16, 1), (32, 2)])
def test_a_batch_slower_than_its_lease_posts_every_key_exactly_once(
    drill: Drill, batch: int, concurrency: int
) -> None:
    due = drill.reminder_ids[:batch]
    overrides = {"delivery_batch_size": batch, "delivery_concurrency": concurrency}
    drill.worker(overrides=overrides)
    drill.scheduler("only", overrides=overrides)
    drill.receiver.slow(ANSWER_SECONDS)
    drill.make_due(due, ago(minutes=1))

    drill.wait_all_sent(due)
    drill.finish()
    rows = drill.assert_exactly_once(due)
    assert [row.attempts for row in rows] == [1] * batch
    first, last = drill.receiver.posts()[0].at, drill.receiver.posts()[-1].at
    assert last - first >= 6.0, "the batch outlasted the lease, as the drill means it to"
