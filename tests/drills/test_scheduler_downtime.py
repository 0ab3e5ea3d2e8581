"""Drill (d): the scheduler down across due times, then restarted.

The scheduler runs, stops, and while it is down twelve reminders fall due five days ago and
twelve one day ago (the catch-up window is three days). Restarted, it sends the recent twelve
once and marks the older twelve `missed`, with a reason an operator can act on; the rest stay
planned. Restarted once more, it sends nothing of those again: a sentinel reminder made due after
the second restart goes out, which shows that the sweep did run.
"""

from __future__ import annotations

from engine.store.statuses import ReminderStatus
from tests.drills.stack import ON_POSTGRESQL, Drill, ago

pytestmark = ON_POSTGRESQL

GROUP = 12


def test_after_downtime_recent_reminders_go_out_once_and_older_ones_are_missed(
    drill: Drill,
) -> None:
    old = drill.reminder_ids[:GROUP]
    recent = drill.reminder_ids[GROUP : 2 * GROUP]
    sentinel = drill.reminder_ids[2 * GROUP]
    untouched = drill.reminder_ids[2 * GROUP + 1 :]
    drill.worker()
    scheduler = drill.scheduler("only")
    scheduler.stop()
    drill.make_due(old, ago(days=5))
    drill.make_due(recent, ago(days=1))

    scheduler.start()
    drill.wait_all_sent(recent)
    missed = drill.reminder_statuses(old)
    assert set(missed.values()) == {ReminderStatus.MISSED}
    assert drill.deliveries(old) == []
    reasons = [row.last_error or "" for row in drill.reminders(old)]
    assert all("PLANFLOW_CATCHUP_WINDOW_DAYS" in reason for reason in reasons), reasons
    assert set(drill.reminder_statuses(untouched).values()) == {ReminderStatus.PLANNED}

    scheduler.stop()
    scheduler.start()
    drill.make_due([sentinel], ago(seconds=1))
    drill.wait_all_sent([sentinel])
    drill.finish()
    drill.assert_exactly_once([*recent, sentinel])
    assert set(drill.reminder_statuses(old).values()) == {ReminderStatus.MISSED}
