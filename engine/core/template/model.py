"""The parsed, frozen form of a workflow template (DESIGN.md §3).

A `Template` is pure data: validated and consistent by construction (see `validate.py`), shared by
every plan that runs on that (name, version). The state machine built from it lives in
`compile.py`; the running plan never holds a copy of either, only the name and version.
"""

from __future__ import annotations

import datetime as dt
from calendar import monthrange
from dataclasses import dataclass, field
from enum import StrEnum

from engine.core.durations import Duration


class Scope(StrEnum):
    """Which plans a role holder may see and act on, relative to the holder's organisation."""

    OWN = "own"  # plans of the holder's own organisation
    CHILDREN = "children"  # plans of organisations directly below
    SUBTREE = "subtree"  # plans of any organisation below


# In a countersigned task (`sign: all|sequence`) this trigger collects signatures; the machine
# fires on the last one. Any other trigger from a signer acts at once and ends the round.
COUNTERSIGN_TRIGGER = "approve"


class SignMode(StrEnum):
    ANY = "any"  # 或签: one holder decides
    ALL = "all"  # 会签: every holder must approve; one return ends the round
    SEQUENCE = "sequence"  # holders approve one after another, in grant order


class ReminderAnchor(StrEnum):
    MONTH_START = "month_start"  # 00:00 on the first day of the item's month, plus `time`
    DUE = "due"  # the item's due day (its `due_day`, else the month's last day), plus `time`


@dataclass(frozen=True)
class MonthDay:
    """A day of the year without a year, as in `at: "12-01"`."""

    month: int
    day: int

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"

    def in_year(self, year: int) -> dt.date:
        """This day in `year`; 29 February falls on the 28th in common years."""
        return dt.date(year, self.month, min(self.day, monthrange(year, self.month)[1]))


@dataclass(frozen=True)
class TimeOfDay:
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    scope: Scope


@dataclass(frozen=True)
class Escalation:
    """One level of an escalation chain: still open `after` this long, the task goes to `to`."""

    after: Duration  # counted from when the task opened, not from the previous level
    to: str  # a role name


@dataclass(frozen=True)
class TaskSpec:
    """The pending decision opened when a plan enters a state."""

    role: str
    due: Duration | None = None
    sign: SignMode = SignMode.ANY
    remind: tuple[Duration, ...] = ()
    escalate: tuple[Escalation, ...] = ()  # levels, `after` strictly increasing


@dataclass(frozen=True)
class State:
    name: str
    title: str
    initial: bool = False
    final: bool = False
    task: TaskSpec | None = None
    items_live: bool = False  # `items: live`: monthly item reminders run while here


@dataclass(frozen=True)
class Transition:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    comment_required: bool = False
    score_required: bool = False  # `score: required`: the action carries a numeric score
    at: MonthDay | None = None  # timer: fires on this day of the plan's year
    after: Duration | None = None  # timer: fires this long after entering the source state

    @property
    def is_timer(self) -> bool:
        return self.at is not None or self.after is not None


@dataclass(frozen=True)
class ReminderRule:
    at: ReminderAnchor
    to: tuple[str, ...]  # role names
    offset: Duration | None = None  # signed; `-3d` is three days before the anchor
    unless: str | None = None  # a guard-like condition name checked at send time, e.g. item_done
    time: TimeOfDay = TimeOfDay(9, 0)  # local time of day at which it fires


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    title: str
    roles: dict[str, Role]
    states: dict[str, State]  # in the order written
    transitions: tuple[Transition, ...]
    reminders: tuple[ReminderRule, ...] = ()
    timezone: str | None = None
    format_version: int = 1
    source_name: str = field(default="<template>", compare=False)

    @property
    def initial_state(self) -> State:
        return next(s for s in self.states.values() if s.initial)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def is_return(self, transition: Transition) -> bool:
        """Whether `transition` sends a plan back to its drafters: it leads from another state to
        the initial one and requires a comment, which is the reason they are told. (A `withdraw`
        by the drafters themselves needs no reason, so it is not a return.)"""
        initial = self.initial_state.name
        return (
            transition.dest == initial
            and transition.comment_required
            and not transition.is_timer
            and any(source != initial for source in transition.sources)
        )

    def transition(self, state: str, trigger: str) -> Transition | None:
        """The one transition for (state, trigger); validation guarantees there is at most one."""
        for candidate in self.transitions:
            if candidate.trigger == trigger and state in candidate.sources:
                return candidate
        return None
