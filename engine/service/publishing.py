"""Whether reminder batches wait to be published, and whether that is a stall to report.

The sweep writes each batch of deliveries to the outbox and the cycle publishes it to the broker;
a batch that cannot be published stays there, marked with how often it was tried and why it
failed. One failed try is an ordinary hiccup (the next cycle tries again); `STALL_ATTEMPTS` in a
row is a broker that is down or unreachable, and reminders that sit `queued` until someone acts.
`/healthz` turns a stall into "degraded" and `planflow reminders list` warns about it. Both read
the database, so they see the stall of whichever process runs the scheduler.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.service.runtime import Runtime
from engine.store.outbox import publishing_backlog as waiting_batches

# Every cycle tries the oldest waiting batch first, so this many failed tries are this many
# cycles in a row (at the default 30 s interval, a minute and a half) without a broker.
STALL_ATTEMPTS = 3


@dataclass(frozen=True)
class PublishingBacklog:
    batches: int  # outbox batches not yet published
    waiting_since: dt.datetime  # when the oldest of them was written
    attempts: int  # failed tries to publish the most tried one; 0: none yet
    last_error: str | None  # why the last try failed

    @property
    def stalled(self) -> bool:
        return self.attempts >= STALL_ATTEMPTS

    def describe(self, tz: dt.tzinfo) -> str:
        """One line for an operator: what waits, since when, and why."""
        since = self.waiting_since.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        batches = f"{self.batches} batch{'es' if self.batches != 1 else ''}"
        tried = f"could not be published in {self.attempts} tries" if self.attempts else "wait"
        why = f": {self.last_error}" if self.last_error else ""
        return f"{batches} of reminder deliveries {tried} (waiting since {since}){why}"


def publishing_backlog(rt: Runtime) -> PublishingBacklog | None:
    """What waits in the outbox, or None when every batch was published."""
    with rt.database.read() as tx:
        backlog = waiting_batches(tx)
    if backlog is None:
        return None
    return PublishingBacklog(
        batches=backlog.batches,
        waiting_since=backlog.waiting_since,
        attempts=backlog.attempts,
        last_error=backlog.last_error,
    )
