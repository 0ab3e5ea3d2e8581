"""Drill (c): Redis stopped for a while, with reminders falling due meanwhile, then started again.

While Redis is down the scheduler keeps sweeping: due reminders become deliveries and outbox
batches in the database, and each publish fails and leaves its batch unpublished for the next
cycle. The worker keeps trying to reconnect. Nothing reaches the receiver. Redis comes back empty
(the drill's server keeps no data, like a cache-only Redis after a crash); the next cycle
publishes the waiting batches and the worker, reconnected, sends each reminder once.
"""

from __future__ import annotations

from tests.drills.stack import ON_POSTGRESQL, Drill, ago, eventually

pytestmark = ON_POSTGRESQL

DUE = 12


def test_reminders_wait_in_the_database_while_redis_is_down(drill: Drill) -> None:
    due = drill.reminder_ids[:DUE]
    worker = drill.worker()
    scheduler = drill.scheduler("only", overrides={"delivery_batch_size": 4})
    drill.redis.stop()
    drill.make_due(due, ago(minutes=1))

    # Two failed publishes: the scheduler went on cycling after the first.
    eventually(
        lambda: (
            len(drill.deliveries(due)) == DUE
            and drill.unpublished_batches() == DUE // 4
            and scheduler.log().count("could not publish reminder deliveries") >= 2
        ),
        "every due reminder queued in the database, its batch unpublished, failures logged",
    )
    eventually(lambda: "Connection to broker lost" in worker.log(), "the worker noticing")
    assert set(drill.reminder_statuses(due).values()) == {"queued"}
    assert {row.status for row in drill.deliveries(due)} == {"queued"}
    assert drill.receiver.raw_posts == 0
    assert scheduler.running and worker.running, "both keep running without Redis"

    drill.redis.start()
    drill.wait_all_sent(due)
    assert drill.unpublished_batches() == 0
    drill.finish()
    drill.assert_exactly_once(due)
