"""The scheduler cycle's vocabulary: the steps whose failures it records (`cycle_failure.step`)."""

from __future__ import annotations

from enum import StrEnum


class CycleStep(StrEnum):
    TIMER = "timer"
    ESCALATION = "escalation"
    HANDOVER = "handover"  # open work waiting on someone who can no longer act (`stranded`)
