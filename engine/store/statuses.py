"""The fixed vocabularies stored in the tables: what state a task, a reminder, a delivery or a
year-end item report is in, and which step of the scheduler cycle a failure belongs to."""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    """Item statuses reported at year end."""

    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"


class TaskStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReminderStatus(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"  # the plan left the state, the item changed or the task closed
    SKIPPED = "skipped"  # its `unless` condition held at send time (the item was done)
    MISSED = "missed"  # older than the catch-up window when the scheduler came back


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # written by the sweep, published to the workers after commit
    SENDING = "sending"  # claimed by a worker until `next_attempt_at` (its lease)
    SENT = "sent"
    FAILED = "failed"  # a retryable error; tried again from `next_attempt_at`
    DEAD = "dead"  # gave up; an operator may retry it


class CycleStep(StrEnum):
    """The steps of the scheduler cycle that record their failures (`cycle_failure.step`)."""

    TIMER = "timer"
    ESCALATION = "escalation"
    HANDOVER = "handover"  # open work waiting on someone who can no longer act (`stranded`)
