"""The replay jumps from one moment that matters to the next; the year it gives is the one a
scheduler cycling every minute gives.

The reference is the same year with a cycle at a thousand and more further minutes: one at every
person's moment where the replay ran none, the minute after every cycle it ran, and random
minutes of the year. Every one of those must find nothing (an idle cycle changes no row), and the
year must end with the same rows as without them. Every moment the engine plans falls on a whole
minute, so a scheduler cycling every minute sends each reminder at its due time, exactly once:
the replay must do so too.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from typing import ClassVar

import pytest
from sqlmodel import select

from engine.core.clock import SimulatedClock
from engine.core.messages import Message, Recipient
from engine.demo import simulate as simulate_module
from engine.demo.replay import Replay, Simulation
from engine.demo.runtime import TZ, demo_runtime, local
from engine.demo.simulate import simulate_year
from engine.service.cycle import has_work, next_work_at, run_cycle
from engine.store.statuses import ReminderStatus
from engine.store.tables import AuditEvent, Delivery, Plan, Reminder

YEAR = 2027
PLANS = 3
RANDOM_MINUTES = 1200
MINUTE = dt.timedelta(minutes=1)


def ignore(channel: str, recipient: Recipient, message: Message) -> None:
    pass


class ProbedReplay(Replay):
    """The replay, with a cycle at further minutes too; each must find nothing."""

    probed: ClassVar[list[dt.datetime]] = []

    def run(self) -> None:
        rng = random.Random(7)
        year = self.end - local(YEAR, 1, 1, 0)
        extra = sorted(
            (
                local(YEAR, 1, 1, 0) + dt.timedelta(minutes=rng.randrange(year // MINUTE))
                for _ in range(RANDOM_MINUTES)
            ),
            reverse=True,
        )
        now = self.clock()
        while now < self.end:
            self.people.act_until(now)
            if has_work(self.rt, now=now):
                self._tally(run_cycle(self.rt, self.publish))
                extra.append(now + MINUTE)  # the next minute's cycle finds nothing left
                extra.sort(reverse=True)
            else:
                self._probe(now)
            while extra and extra[-1] <= now:
                extra.pop()
            moment = self._next_moment(now, next_work_at(self.rt, after=now))
            now = min(moment, extra[-1]) if extra else moment
            self.clock.set(now)
        self._count_sent()

    def _probe(self, now: dt.datetime) -> None:
        report = run_cycle(self.rt, self.publish)
        assert report.idle, f"{now:%Y-%m-%d %H:%M}: {report.summary()}"
        ProbedReplay.probed.append(now)


ReminderRow = tuple[str, str, dt.datetime, dt.datetime | None, str | None]
DeliveryRow = tuple[str, str, dt.datetime | None, int]
EventRow = tuple[int, dt.datetime, str, str | None, str | None]
Rows = tuple[list[ReminderRow], list[DeliveryRow], list[EventRow]]


def replay_year(probed: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Simulation, Rows]:
    if probed:
        monkeypatch.setattr(simulate_module, "Replay", ProbedReplay)
    clock = SimulatedClock(local(YEAR, 1, 2, 8))
    with demo_runtime(clock) as rt:
        result = simulate_year(rt, clock, year=YEAR, plans=PLANS, seed=2, send=ignore)
        with rt.database.session() as session:
            reminders = sorted(
                (r.key, r.status, r.fire_at, r.sent_at, r.last_error)
                for r in session.exec(select(Reminder))
            )
            deliveries = sorted(
                (d.key, d.status, d.sent_at, d.attempts) for d in session.exec(select(Delivery))
            )
            events = sorted(
                (e.plan_id, e.at, e.action, e.from_state, e.to_state)
                for e in session.exec(select(AuditEvent))
            )
            assert {p.state for p in session.exec(select(Plan))} == {"closed"}
    monkeypatch.undo()
    return result, (reminders, deliveries, events)


@pytest.fixture(scope="module")
def years() -> Iterator[tuple[tuple[Simulation, Rows], tuple[Simulation, Rows]]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        jumped = replay_year(False, monkeypatch)
        ProbedReplay.probed = []
        probed = replay_year(True, monkeypatch)
    yield jumped, probed


def test_cycles_at_a_thousand_more_minutes_find_nothing_and_change_nothing(
    years: tuple[tuple[Simulation, Rows], tuple[Simulation, Rows]],
) -> None:
    (jumped, jumped_rows), (probed, probed_rows) = years
    assert len(ProbedReplay.probed) > RANDOM_MINUTES  # people's moments and random minutes
    assert jumped.cycles == probed.cycles  # the probes were idle, not counted
    assert jumped.months == probed.months
    assert jumped.sent_by_kind == probed.sent_by_kind
    assert jumped.problems == probed.problems == []
    assert jumped_rows == probed_rows
    # Far fewer cycles than the people's moments: a cycle runs only where it has work.
    assert jumped.cycles < len(ProbedReplay.probed) / 2


def test_every_reminder_goes_out_once_at_its_due_time_and_timers_fire_at_theirs(
    years: tuple[tuple[Simulation, Rows], tuple[Simulation, Rows]],
) -> None:
    (result, (reminders, deliveries, events)), _ = years
    assert all(
        fire_at.second == 0 and fire_at.microsecond == 0 for _, _, fire_at, _, _ in reminders
    )
    sent = [
        (key, fire_at, sent_at)
        for key, status, fire_at, sent_at, _ in reminders
        if status == ReminderStatus.SENT
    ]
    assert sent and all(sent_at == fire_at for _, fire_at, sent_at in sent)
    assert not [
        r for r in reminders if r[1] == ReminderStatus.PLANNED and r[2] < local(YEAR + 1, 1, 1, 0)
    ]
    keys = Counter(key for key, *_ in deliveries)
    assert keys and max(keys.values()) == 1  # one delivery per reminder and recipient
    assert {status for _, status, _, _ in deliveries} == {"sent"}
    assert all(attempts == 1 for *_, attempts in deliveries)
    # The 1 December timer fires at midnight in the unions' time zone, as every minute's cycle
    # would fire it, for every plan; escalations are carried out as before.
    timers = [at for _, at, action, _, _ in events if action == "begin_evaluation"]
    assert len(timers) == PLANS
    assert {at.astimezone(TZ) for at in timers} == {local(YEAR, 12, 1, 0)}
    assert result.total.escalations >= 1 and result.total.timers == PLANS
