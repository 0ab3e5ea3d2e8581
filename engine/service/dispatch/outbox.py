"""Publishing: after the sweep's commit, each outbox batch goes to whoever delivers it.

`publish_outbox` hands each batch of delivery ids to a `Publish`: a Celery task in production,
`deliver` in this very process in embedded mode (`in_process`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.core.errors import first_line
from engine.service.dispatch.deliver import Send, deliver
from engine.service.runtime import Runtime
from engine.store.outbox import return_unpublished, take_unpublished

log = logging.getLogger("planflow.dispatch")

Publish = Callable[[list[int]], None]
"""Hands one batch of delivery ids to whoever delivers them; raises if it cannot."""

TAKEN_AT_ONCE = 100  # batches marked published in one transaction


def publish_outbox(rt: Runtime, publish: Publish) -> int:
    """Publish every unpublished outbox batch through `publish`; returns how many went out.

    A batch is marked published in a transaction of its own *before* `publish` runs, and unmarked
    if it fails: no transaction stays open while publishing, so an in-process `publish` can write
    (SQLite has one writer). A crash between the two loses nothing: the deliveries' lease makes
    the sweep publish them again.
    """
    published = 0
    while True:
        with rt.database.transaction() as tx:
            batches = take_unpublished(tx, limit=TAKEN_AT_ONCE, at=rt.now())
        if not batches:
            return published
        for position, batch in enumerate(batches):
            try:
                publish(batch.delivery_ids)
            except Exception as error:  # the broker is down: keep the rest for the next cycle
                log.warning(
                    "could not publish reminder deliveries (%s); %d batches wait in the outbox "
                    "and go out on a later cycle",
                    first_line(error),
                    len(batches) - position,
                )
                with rt.database.transaction() as tx:
                    return_unpublished(
                        tx,
                        batch_ids=[b.id for b in batches[position:]],
                        error=first_line(error),
                    )
                return published
            published += 1


def in_process(rt: Runtime, send: Send) -> Publish:
    """Embedded mode's `Publish`: deliver each batch right away, in this process."""

    def publish(delivery_ids: list[int]) -> None:
        deliver(rt, delivery_ids, send)

    return publish
