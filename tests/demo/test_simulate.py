"""`planflow simulate`: what it counts per month is what the database holds at the end of the year.

The simulation runs on the test's SQLite database (`simulate_year`), so its monthly table can be
checked against the reminder, delivery and audit rows the real scheduler cycle wrote.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlmodel import col, select

from engine.cli.simulate import run
from engine.core.clock import SimulatedClock
from engine.core.messages import Message, Recipient, ReminderKind
from engine.core.planning import TASK_ESCALATION
from engine.demo.replay import Downtime, Simulation
from engine.demo.runtime import TZ
from engine.demo.simulate import simulate_year
from engine.service.runtime import Runtime
from engine.store.statuses import DeliveryStatus, ItemStatus, ReminderStatus
from engine.store.tables import AuditEvent, Delivery, MonthlyItem, Plan, Reminder
from tests.world import setup_world

YEAR = 2027


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (recipient, subject)

    def __call__(self, channel: str, recipient: Recipient, message: Message) -> None:
        self.sent.append((recipient.username, message.subject))


def by_month(moments: list[dt.datetime | None]) -> dict[int, int]:
    return dict(Counter(m.astimezone(TZ).month for m in moments if m is not None))


def counted(result: Simulation, name: str) -> dict[int, int]:
    return {m: n for m, t in result.months.items() if (n := getattr(t, name))}


def test_a_year_of_seven_plans_counts_what_the_database_holds(
    sqlite_rt: Runtime, clock: SimulatedClock
) -> None:
    rt = sqlite_rt
    setup_world(rt)
    send = Recorder()
    # Seven plans: the six demo plans and one generated grassroots union.
    result = simulate_year(rt, clock, year=YEAR, plans=7, seed=1, send=send)
    assert result.problems == []
    with rt.database.session() as session:
        plans = list(session.exec(select(Plan)))
        deliveries = list(session.exec(select(Delivery)))
        reminders = list(session.exec(select(Reminder)))
        items = {i.id: i for i in session.exec(select(MonthlyItem))}
        audit = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))
    assert len(plans) == 7 and {p.state for p in plans} == {"closed"}

    sent = [d for d in deliveries if d.status == DeliveryStatus.SENT]
    assert len(sent) == len(deliveries) == len(send.sent) == result.total.deliveries
    assert counted(result, "deliveries") == by_month([d.sent_at for d in sent])
    messages = [
        r for r in reminders if r.status == ReminderStatus.SENT and r.kind != TASK_ESCALATION
    ]
    assert counted(result, "reminders") == by_month([r.sent_at for r in messages])
    assert result.total.skipped == sum(r.status == ReminderStatus.SKIPPED for r in reminders)
    assert result.total.missed == 0

    # 1 December: the timer moves every plan to self-evaluation by itself, as the system.
    assert counted(result, "timers") == {12: 7}
    timers = [e for e in audit if e.action == "begin_evaluation"]
    assert len(timers) == 7 and all(e.actor_id is None for e in timers)
    assert {e.at.astimezone(TZ).date() for e in timers} == {dt.date(YEAR, 12, 1)}

    # Late reviewers were escalated, in January, and the escalation notices went out.
    escalations = [e for e in audit if e.action == "escalate"]
    assert escalations and result.total.escalations == len(escalations)
    assert counted(result, "escalations") == {1: len(escalations)}
    notices = [r for r in messages if r.kind == ReminderKind.TASK_ESCALATED]
    assert len(notices) == len(escalations)

    # Each task opened for people (not an escalation's) announced itself once: sent, or skipped
    # when the task closed first; the table per kind adds up to the monthly one.
    opened = [r for r in reminders if r.kind == ReminderKind.TASK_OPENED]
    assert len({r.task_id for r in opened}) == len(opened) > 0
    assert {r.status for r in opened} <= {ReminderStatus.SENT, ReminderStatus.SKIPPED}
    per_kind = result.sent_by_kind
    assert sum(per_kind.values()) == result.total.reminders
    assert per_kind[ReminderKind.TASK_OPENED] == sum(
        r.status == ReminderStatus.SENT for r in opened
    )

    # Overdue notices went out only for items not reported done by then; the others were skipped.
    # (Those after 1 December were cancelled when the plans left execution.)
    overdue = [
        r
        for r in reminders
        if r.kind == ReminderKind.ITEM_OVERDUE and r.fire_at < dt.datetime(YEAR, 12, 1, tzinfo=TZ)
    ]
    assert {r.status for r in overdue} == {ReminderStatus.SENT, ReminderStatus.SKIPPED}
    for reminder in overdue:
        item = items[reminder.item_id]
        done_before = (
            item.status == ItemStatus.DONE
            and item.reported_at is not None
            and item.reported_at <= reminder.fire_at
        )
        assert done_before == (reminder.status == ReminderStatus.SKIPPED), reminder.key
    went_out = [r for r in overdue if r.status == ReminderStatus.SENT]
    # To the drafter and the union above: the township, or the county for a township's plan.
    assert {"drafter", "township_reviewer"} <= {r.recipient_role for r in went_out}


def test_downtime_catches_up_recent_reminders_and_misses_older_ones(
    sqlite_rt: Runtime, clock: SimulatedClock
) -> None:
    rt = sqlite_rt
    setup_world(rt)
    # Down from 25 February 09:00 to 2 March 09:00: on return, what fell due within the 3-day
    # catch-up window (from 27 February 09:00; 28 February's due-day reminder) goes out at once,
    # what is older (26 February's month-start reminders for March) is missed.
    downtime = Downtime.parse("02-25:5", YEAR)
    result = simulate_year(
        rt, clock, year=YEAR, plans=3, seed=1, send=Recorder(), downtime=downtime
    )
    with rt.database.session() as session:
        reminders = list(session.exec(select(Reminder)))
    restart, horizon = downtime.end, downtime.end - dt.timedelta(days=3)
    missed = [r for r in reminders if r.status == ReminderStatus.MISSED]
    assert missed and result.total.missed == len(missed)
    assert counted(result, "missed") == {3: len(missed)}
    assert missed == [r for r in reminders if downtime.start <= r.fire_at < horizon]
    caught_up = [r for r in reminders if horizon <= r.fire_at < restart]
    assert caught_up and {(r.status, r.sent_at) for r in caught_up} == {("sent", restart)}
    assert not [r for r in reminders if r.sent_at and downtime.start <= r.sent_at < restart]


def test_the_command_prints_a_month_by_month_table_and_is_repeatable() -> None:
    runs = []
    for _ in range(2):
        lines: list[str] = []
        result = run(year=YEAR, plans=2, seed=5, downtime=None, send=Recorder(), echo=lines.append)
        runs.append((result.months, result.cycles))
    assert runs[0] == runs[1]  # the same seed replays the same year
    text = "\n".join(lines)
    assert "Planflow simulate: 2 plans through 2027 (seed 5)" in text
    assert all(f"  {YEAR}-{m:02d} " in text for m in range(1, 13))
    assert "  total " in text
    assert "plans at the end of the year: closed 2" in text
    assert "s (wall clock)" in lines[-1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("03-10", "not MM-DD:DAYS"), ("02-29:2", "not MM-DD:DAYS of 2027"), ("03-10:0", "at least")],
)
def test_downtime_must_be_a_day_of_the_year_and_a_length(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Downtime.parse(text, YEAR)
