"""The replay of `planflow simulate`: the year's clock, moved from one moment that matters to the
next, with the scheduler's own cycle run at each.

A moment matters when a person acts (`People`), when the cycle has work that time alone brings
(a reminder, an escalation level, a delivery retry or a timer falls due: `next_work_at`), and
when the scheduler stops and restarts around a `Downtime`. At each, the people act first, then
`run_cycle` runs if it has work (`has_work`; unless the scheduler is down) and delivers
in-process through the `Send` it is given; what the cycle did is counted into the month it
happened in. A cycle is never run where it would find nothing, so the year is the one a scheduler
cycling every minute would give (`tests/demo/test_replay_equivalence.py`), in a few hundred cycles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from engine.core.clock import SimulatedClock
from engine.core.errors import PlanflowError
from engine.core.messages import Message, Recipient, ReminderKind
from engine.demo.people import People
from engine.demo.runtime import TZ, local
from engine.service.cycle import CycleReport, has_work, next_work_at, run_cycle
from engine.service.dispatch import Send, in_process
from engine.service.runtime import Runtime
from engine.store.schedule import sent_per_period


class DowntimeInvalid(PlanflowError, ValueError):
    """A `--downtime` that is not a day of the year and a length.

    A ValueError too, as a parser of an option's text raises one (the CLI makes it a usage error).
    """

    code = "simulate.downtime_invalid"


@dataclass(frozen=True)
class Downtime:
    """The scheduler is down from 09:00 on `first_day` for `days` days; people still act."""

    first_day: dt.date
    days: int

    @classmethod
    def parse(cls, text: str, year: int) -> Downtime:
        """`MM-DD:DAYS` in `year`, e.g. `03-10:5`; `DowntimeInvalid` saying what is wrong."""
        try:
            date, days = text.split(":")
            month, day = (int(part) for part in date.split("-"))
            downtime = cls(dt.date(year, month, day), int(days))
        except ValueError:
            raise DowntimeInvalid(
                "{value!r} is not MM-DD:DAYS of {year}, e.g. 03-10:5",
                field="downtime",
                value=text,
                year=year,
            ) from None
        if downtime.days < 1:
            raise DowntimeInvalid(
                "{value!r}: the scheduler must be down at least 1 day",
                field="downtime",
                value=text,
            )
        return downtime

    @property
    def start(self) -> dt.datetime:
        return local(self.first_day.year, self.first_day.month, self.first_day.day)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)


@dataclass
class MonthTally:
    reminders: int = 0  # reminders that became sent
    deliveries: int = 0  # messages the channel accepted
    skipped: int = 0  # `unless: item_done` held, or the task had closed
    missed: int = 0
    undeliverable: int = 0
    escalations: int = 0
    timers: int = 0  # timer transitions fired

    def __iadd__(self, other: MonthTally) -> MonthTally:
        for name in _TALLIES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


_TALLIES = [f.name for f in dataclasses.fields(MonthTally)]


class Refusal(NamedTuple):
    """A timer or an escalation the engine refused during the year, and why."""

    plan_id: int
    error: str


@dataclass
class Simulation:
    """What a simulated year did: per month, and at the end of the year."""

    year: int
    plan_ids: list[int]
    months: dict[int, MonthTally] = field(default_factory=dict)  # 1–12
    cycles: int = 0
    problems: list[Refusal] = field(default_factory=list)  # timers or escalations refused
    # At the end of the year: the reminders sent per kind (escalation levels aside: their
    # notice is the message) and how many plans are in each state.
    sent_by_kind: dict[ReminderKind, int] = field(default_factory=dict)
    plans_per_state: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> MonthTally:
        total = MonthTally()
        for tally in self.months.values():
            total += tally
        return total


class Replay:
    """Moves the clock from one moment that matters to the next, running a cycle at each."""

    def __init__(
        self,
        rt: Runtime,
        clock: SimulatedClock,
        people: People,
        send: Send,
        result: Simulation,
        downtime: Downtime | None,
    ) -> None:
        self.rt = rt
        self.clock = clock
        self.people = people
        self.result = result
        self.down = (downtime.start, downtime.end) if downtime else None
        self.end = local(people.year + 1, 1, 1, 0)
        self.publish = in_process(rt, self._counting(send))

    def _counting(self, send: Send) -> Send:
        def counted(channel: str, recipient: Recipient, message: Message) -> None:
            send(channel, recipient, message)  # a DeliveryError is not counted: nothing went out
            self._month().deliveries += 1

        return counted

    def _month(self) -> MonthTally:
        month = self.clock().astimezone(TZ).month
        return self.result.months.setdefault(month, MonthTally())

    def run(self) -> None:
        now = self.clock()
        while now < self.end:
            # People first: what they did by now is what the cycle sees.
            self.people.act_until(now)
            if not self._scheduler_down(now) and has_work(self.rt, now=now):
                self._tally(run_cycle(self.rt, self.publish))
            now = self._next_moment(now, next_work_at(self.rt, after=now))
            self.clock.set(now)
        self._count_sent()

    def _count_sent(self) -> None:
        """Each month's reminders sent, from the reminders' send times: one query at the end
        rather than a count after every cycle."""
        year = self.people.year
        starts = [local(year, month, 1, 0) for month in range(1, 13)] + [self.end]
        with self.rt.database.read() as tx:
            counts = sent_per_period(tx, starts=starts)
        for month, count in enumerate(counts, start=1):
            if count:
                self.result.months.setdefault(month, MonthTally()).reminders += count

    def _scheduler_down(self, now: dt.datetime) -> bool:
        return self.down is not None and self.down[0] <= now < self.down[1]

    def _tally(self, report: CycleReport) -> None:
        self.result.cycles += 1
        month = self._month()
        month.skipped += report.sweep.skipped
        month.missed += report.sweep.missed
        month.undeliverable += report.sweep.undeliverable
        refused = [(t.plan_id, t.error) for t in report.timers] + [
            (e.plan_id, e.error) for e in report.escalations
        ]
        self.result.problems.extend(Refusal(p, error) for p, error in refused if error)
        month.timers += sum(1 for t in report.timers if t.error is None)
        month.escalations += sum(1 for e in report.escalations if e.error is None)

    def _next_moment(self, now: dt.datetime, due: dt.datetime | None) -> dt.datetime:
        """The next person's action or the cycle's next work (`due`: a reminder, a delivery
        retry, a timer), whichever comes first, and the scheduler's restart after a downtime.
        At a person's moment the cycle runs only when they left it work (`has_work`); no cycle
        runs where a scheduler cycling every few seconds would have found nothing."""
        candidates = [self.end]
        if self.people.next_at is not None:
            candidates.append(self.people.next_at)
        if self.down is not None and now < self.down[1]:
            candidates.extend(moment for moment in self.down if moment > now)
        if due is not None:
            candidates.append(due)
        return min(candidates)
