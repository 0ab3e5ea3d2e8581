"""Delivering: each delivery is claimed right before its own send, sent, and its outcome recorded.

`deliver` claims each delivery with a lease right before its own send (a second worker holding
the same message finds it taken), sends it through `send`, and records the outcome in its own
short transaction, so a worker killed mid-batch leaves only the deliveries it was sending (at
most `delivery_concurrency` of them) to be tried again, and a slow batch never outlasts a lease.
Failures retry with exponential backoff and end `dead` after `delivery_max_attempts`; a
reminder is settled from its deliveries' outcomes (`settle_reminders`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from engine.core.errors import DeliveryError
from engine.core.messages import Message, Recipient
from engine.service.runtime import Runtime
from engine.store import Transaction
from engine.store.deliveries import (
    SendOutcome,
    WaitingDelivery,
    claimable_deliveries,
    delivery_statuses,
    recipients,
    record_and_claim,
    record_late_send,
    reserve_deliveries,
)
from engine.store.due import ReminderOutcome, set_reminder_outcomes
from engine.store.statuses import DeliveryStatus, ReminderStatus

log = logging.getLogger("planflow.dispatch")

Send = Callable[[str, Recipient, Message], None]
"""Sends a message over a channel (by name) to a recipient; raises `DeliveryError`."""

MAX_BACKOFF = dt.timedelta(hours=6)
# How often, at most, a worker renews the reservation of its batch's deliveries not yet started;
# less than the margin the settings leave in a lease beyond one send (LEASE_MARGIN_SECONDS).
RENEW_RESERVATION = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # will be tried again
    dead: int = 0
    not_claimed: int = 0  # already sent, or being sent by another worker
    late: int = 0  # sends that ended after their lease had run out (see `_record`)


def deliver(rt: Runtime, delivery_ids: Sequence[int], send: Send) -> DeliveryReport:
    """Send the given deliveries that are still waiting; idempotent, so safe to call twice.

    Each delivery is claimed right before its own send, for `delivery_lease_seconds`, which the
    settings make longer than one send can take (the channels' timeouts): a batch may take as
    long as its receiver makes it, and no lease runs out under a send that is still going. The
    deliveries this worker has yet to start stay `queued`, reserved to it for one lease, and its
    claims renew that reservation; so the sweep leaves them alone while the worker makes progress,
    and republishes them one lease after it stops (killed, stuck), never stranding one. With
    `delivery_concurrency` sends side by side, only those on the wire hold a lease.
    """
    if not delivery_ids:
        return DeliveryReport()
    lease = dt.timedelta(seconds=rt.settings.delivery_lease_seconds)
    now = rt.now()
    with rt.database.transaction() as tx:
        waiting = claimable_deliveries(tx, delivery_ids=delivery_ids, now=now)
        users: dict[int, Recipient] = {}
        if waiting:
            reserve_deliveries(tx, delivery_ids=[row.id for row in waiting], until=now + lease)
            users = recipients(tx, user_ids=[row.user_id for row in waiting])
    sends = _Sends(rt, lease, deque(waiting))

    def send_in_turn() -> list[_Outcome]:
        outcomes = []
        row = sends.record_and_claim_next(None)[1]
        while row is not None:
            recipient = users[row.user_id]
            status, reason, retry_at = _send_one(rt, row, recipient, send)
            finished = _Finished(row, recipient, status, reason, retry_at, rt.now())
            outcome, row = sends.record_and_claim_next(finished)
            assert outcome is not None  # (an outcome for every finished send)
            outcomes.append(outcome)
        return outcomes

    # Sends wait on the network (an SMTP dialogue, a robot's round trip), so a batch's sends run
    # side by side, `delivery_concurrency` at a time, each thread claiming the next in turn.
    workers = min(rt.settings.delivery_concurrency, len(waiting))
    if workers <= 1:
        outcomes = send_in_turn()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="planflow-send") as pool:
            threads = [pool.submit(send_in_turn) for _ in range(workers)]
            outcomes = [outcome for thread in threads for outcome in thread.result()]
    counts = Counter(outcome.recorded.value for outcome in outcomes if outcome.recorded)
    settle_reminders(rt, {row.reminder_id for row in sends.claimed})
    return DeliveryReport(
        sent=counts["sent"],
        failed=counts["failed"],
        dead=counts["dead"],
        not_claimed=len(set(delivery_ids)) - len(sends.claimed),
        late=sum(outcome.late for outcome in outcomes),
    )


@dataclass(frozen=True)
class _Claimed:
    """A delivery as this worker claimed it: the batch's row, with what the claim set."""

    id: int
    key: str
    reminder_id: int
    channel: str
    user_id: int
    subject: str
    body: str
    attempts: int  # the claim's token (see `SendOutcome.attempt`)
    next_attempt_at: dt.datetime  # the claim's lease


@dataclass(frozen=True)
class _Finished:
    """One claimed delivery's send, done: what to record."""

    row: _Claimed
    recipient: Recipient
    status: DeliveryStatus
    reason: str | None
    retry_at: dt.datetime | None
    at: dt.datetime

    def outcome(self) -> SendOutcome:
        row, status = self.row, self.status
        return SendOutcome(
            delivery_id=row.id,
            attempt=row.attempts,
            status=status,
            sent_at=self.at if status == DeliveryStatus.SENT else None,
            retry_at=self.retry_at or self.at,
            reason=self.reason,
        )


@dataclass(frozen=True)
class _Outcome:
    recorded: DeliveryStatus | None  # None: a later try took the delivery over and records it
    late: bool  # the send ended after its lease had run out


class _Sends:
    """The deliveries of one batch that this worker has yet to send, claimed one at a time."""

    def __init__(self, rt: Runtime, lease: dt.timedelta, waiting: deque[WaitingDelivery]) -> None:
        self.rt = rt
        self.lease = lease
        self.claimed: list[_Claimed] = []
        self._waiting = waiting
        self._lock = threading.Lock()
        self._renewed_at = rt.now()  # `deliver` reserved them all just now

    def record_and_claim_next(
        self, finished: _Finished | None
    ) -> tuple[_Outcome | None, _Claimed | None]:
        """Record a send's outcome, then claim the next delivery that is still this worker's to
        send, in one transaction: the outcome commits right after its send (a worker killed now
        repeats only the posts it had in flight, never one it had recorded), and a delivery costs
        one transaction, not two. The claimed row is None once none is left.

        The claim renews the reservation of the deliveries after it, at most once a second
        (`RENEW_RESERVATION`), which keeps renewals cheap: between two claims lies at most one
        send, and the settings make a lease longer than one send's worst case by more than that
        second (`LEASE_MARGIN_SECONDS`), so the reservation never lapses while the worker
        progresses. This transaction is most of what a delivery costs the worker beyond its
        send, so the store keeps it short (`record_and_claim`).
        """
        with self.rt.database.transaction() as tx:
            outcome: _Outcome | None = None
            unrecorded = finished
            while True:
                with self._lock:
                    waiting = self._waiting.popleft() if self._waiting else None
                    now = self.rt.now()
                    rest: list[int] = []
                    if waiting is not None and now - self._renewed_at >= RENEW_RESERVATION:
                        rest, self._renewed_at = [row.id for row in self._waiting], now
                lease_until = now + self.lease
                recorded, claim = record_and_claim(
                    tx,
                    outcome=unrecorded.outcome() if unrecorded is not None else None,
                    delivery_id=waiting.id if waiting is not None else None,
                    now=now,
                    lease_until=lease_until,
                )
                if unrecorded is not None:
                    outcome = _record(tx, unrecorded, recorded=recorded)
                    unrecorded = None
                if waiting is None:
                    return outcome, None
                if rest:
                    reserve_deliveries(tx, delivery_ids=rest, until=lease_until)
                if claim is not None:  # else sent or being sent by another worker meanwhile
                    row = _Claimed(
                        id=waiting.id,
                        key=waiting.key,
                        reminder_id=waiting.reminder_id,
                        channel=waiting.channel,
                        user_id=waiting.user_id,
                        subject=waiting.subject,
                        body=waiting.body,
                        attempts=claim.attempts,
                        next_attempt_at=claim.next_attempt_at,
                    )
                    with self._lock:
                        self.claimed.append(row)
                    return outcome, row


def _record(tx: Transaction, finished: _Finished, *, recorded: bool) -> _Outcome:
    """What became of one send's outcome, once `record_and_claim` tried to record it.

    An outcome that comes after its claim's lease ran out (a send slower than the settings allow
    for) is recorded too, not dropped:
    - if nobody has claimed the delivery since (still `sending`, or `queued` again by the sweep
      with its message in flight), the claim's `attempts` still match and it is recorded as
      usual; the republished message then finds nothing to send;
    - if a later claim took it over, that try is on the wire or done, and records its own outcome.
      This send's "sent" is recorded all the same (`record_late_send`), over whatever the later
      try recorded or will record: the message did reach the receiver, so a failure of the later
      try must not send it a third time after its backoff, and once `sent` no outcome changes it.
      This send's failure, though, is dropped with a log line: the later try has the last word.
    The one repeat that remains is the later try itself, which started before this outcome was
    known; it carries the same key, so the receiver can drop it.
    """
    row, status, username = finished.row, finished.status, finished.recipient.username
    late = finished.at > row.next_attempt_at  # (the claim returned its lease's end)
    if recorded:
        if late:
            log.warning(
                "delivery #%d to %s: try %d ended (%s) after its lease ran out; recorded, since "
                "nobody had taken the delivery over",
                row.id,
                username,
                row.attempts,
                status.value,
            )
        return _Outcome(status, late=late)
    if status == DeliveryStatus.SENT:
        note = (
            f"try {row.attempts} was sent after its lease ran out, while a later try had taken "
            "the delivery over"
        )
        if record_late_send(tx, delivery_id=row.id, sent_at=finished.at, reason=note):
            log.warning("delivery #%d to %s: %s", row.id, username, note)
            return _Outcome(DeliveryStatus.SENT, late=True)
        log.warning(
            "delivery #%d to %s was sent twice (key %s): try %d outlasted its lease and a later "
            "try sent it as well",
            row.id,
            username,
            row.key,
            row.attempts,
        )
        return _Outcome(None, late=True)
    log.warning(
        "delivery #%d to %s: try %d ended (%s) after its lease ran out and a later try took the "
        "delivery over; that try records its own outcome",
        row.id,
        username,
        row.attempts,
        status.value,
    )
    return _Outcome(None, late=True)


def _send_one(
    rt: Runtime, row: _Claimed, recipient: Recipient, send: Send
) -> tuple[DeliveryStatus, str | None, dt.datetime | None]:
    """(status, reason, when to try again) after one attempt to send `row`."""
    try:
        send(row.channel, recipient, Message(subject=row.subject, text=row.body, key=row.key))
    except DeliveryError as error:
        reason = f"try {row.attempts}: {error.render('en')}"  # stored for operators, in English
        if not error.retryable or row.attempts >= rt.settings.delivery_max_attempts:
            log.error("delivery #%d to %s gave up: %s", row.id, recipient.username, reason)
            return DeliveryStatus.DEAD, reason, None
        backoff = dt.timedelta(seconds=rt.settings.retry_backoff_seconds * 2 ** (row.attempts - 1))
        log.warning("delivery #%d to %s failed, will retry: %s", row.id, recipient.username, reason)
        return DeliveryStatus.FAILED, reason, rt.now() + min(backoff, MAX_BACKOFF)
    return DeliveryStatus.SENT, None, None


def settle_reminders(rt: Runtime, reminder_ids: set[int]) -> None:
    """A reminder is sent once all its deliveries are, dead once one of them is and none waits."""
    if not reminder_ids:
        return
    with rt.database.transaction() as tx:
        outcomes = []
        for reminder_id, seen in delivery_statuses(tx, reminder_ids=reminder_ids).items():
            if seen == {DeliveryStatus.SENT}:
                status, reason = ReminderStatus.SENT, None
            elif seen <= {DeliveryStatus.SENT, DeliveryStatus.DEAD}:
                status, reason = ReminderStatus.DEAD, "some deliveries gave up; see its deliveries"
            elif DeliveryStatus.FAILED in seen:
                status, reason = ReminderStatus.FAILED, "some deliveries are being retried"
            else:
                continue  # still being sent
            sent_at = rt.now() if status == ReminderStatus.SENT else None
            outcomes.append(
                ReminderOutcome(
                    reminder_id=reminder_id, status=status, reason=reason, sent_at=sent_at
                )
            )
        set_reminder_outcomes(tx, outcomes=outcomes)
