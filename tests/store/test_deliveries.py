"""`record_and_claim`, the store's one shortcut in dispatch: a send's outcome and the next claim
go together (one psycopg pipeline on PostgreSQL, one after the other on SQLite), in order."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from engine.core.clock import SimulatedClock
from engine.service.dispatch import sweep_reminders
from engine.service.runtime import Runtime
from engine.store.deliveries import Claim, SendOutcome, claimable_deliveries, record_and_claim
from engine.store.statuses import DeliveryStatus
from tests.world import world_with_live_plan

TZ = ZoneInfo("Asia/Shanghai")
LEASE = dt.timedelta(minutes=5)


def test_an_outcome_and_the_next_claim_run_together_in_order(
    rt: Runtime, clock: SimulatedClock
) -> None:
    world_with_live_plan(rt)
    clock.set(dt.datetime(2026, 12, 29, 9, 0, tzinfo=TZ))
    sweep_reminders(rt)
    now = clock()
    with rt.database.read() as tx:
        [waiting] = claimable_deliveries(tx, delivery_ids=range(1, 100), now=now)
    with rt.database.transaction() as tx:
        first = record_and_claim(
            tx, outcome=None, delivery_id=waiting.id, now=now, lease_until=now + LEASE
        )
    assert first == (False, Claim(attempts=1, next_attempt_at=now + LEASE))
    sent = SendOutcome(
        delivery_id=waiting.id,
        attempt=1,
        status=DeliveryStatus.SENT,
        sent_at=now,
        retry_at=now,
        reason=None,
    )
    stale = SendOutcome(
        delivery_id=waiting.id,
        attempt=0,  # a claim that a later one took over
        status=DeliveryStatus.FAILED,
        sent_at=None,
        retry_at=now,
        reason="late",
    )
    with rt.database.transaction() as tx:
        # The claim runs after the outcome: it finds the delivery sent, so nothing to claim.
        assert record_and_claim(
            tx, outcome=sent, delivery_id=waiting.id, now=now, lease_until=now + LEASE
        ) == (True, None)
        assert record_and_claim(
            tx, outcome=stale, delivery_id=None, now=now, lease_until=now + LEASE
        ) == (False, None)
    with rt.database.read() as tx:
        assert claimable_deliveries(tx, delivery_ids=[waiting.id], now=now + LEASE) == []
