"""Drill: a webhook that answers HTTP 500, for a while and then for good.

For a while: the first try of each delivery is refused; the retry after the backoff (1 s) goes
through, and each reminder is accepted once. For good: each delivery is tried
`delivery_max_attempts` (3) times, 1 s and then 2 s apart, and ends `dead`, with the receiver's
answer as its reason, listed for an operator by `planflow reminders list --status dead` (the
service call behind it). The operator retries them once the receiver works again, and each goes
out once.
"""

from __future__ import annotations

from collections import defaultdict

from engine.service.reminders import list_reminders, retry_dead
from engine.store.statuses import DeliveryStatus, ReminderStatus
from tests.drills.stack import ON_POSTGRESQL, Drill, ago, eventually

pytestmark = ON_POSTGRESQL

GROUP = 4
MAX_ATTEMPTS = 3  # the drill's PLANFLOW_DELIVERY_MAX_ATTEMPTS
BACKOFF = 1.0  # the drill's PLANFLOW_RETRY_BACKOFF_SECONDS; doubles with each try


def test_a_failing_webhook_is_retried_with_backoff_then_dead_then_retried_by_an_operator(
    drill: Drill,
) -> None:
    recovering = drill.reminder_ids[:GROUP]
    failing = drill.reminder_ids[GROUP : 2 * GROUP]
    drill.worker()
    drill.scheduler("only")

    # For a while: refuse every first try, then answer normally.
    drill.receiver.answer(500)
    drill.make_due(recovering, ago(seconds=1))
    drill.receiver.wait_for(lambda r: r.raw_posts == GROUP, timeout=30)
    drill.receiver.answer(200)
    drill.wait_all_sent(recovering)
    assert [row.attempts for row in drill.deliveries(recovering)] == [2] * GROUP

    # For good.
    drill.receiver.answer(500)
    drill.make_due(failing, ago(seconds=1))
    eventually(
        lambda: set(drill.reminder_statuses(failing).values()) == {ReminderStatus.DEAD},
        "every reminder of the failing webhook dead",
    )
    rows = drill.deliveries(failing)
    assert {(row.status, row.attempts) for row in rows} == {(DeliveryStatus.DEAD, MAX_ATTEMPTS)}
    assert all("answered HTTP 500" in (row.last_error or "") for row in rows)
    tries: dict[str | None, list[float]] = defaultdict(list)
    for post in drill.receiver.posts():
        tries[post.key].append(post.at)
    for row in rows:
        first, second, third = tries[row.key]
        assert second - first >= BACKOFF and third - second >= 2 * BACKOFF, tries[row.key]
    listed = list_reminders(drill.rt, status=ReminderStatus.DEAD)
    assert sorted(view.id for view in listed) == failing
    assert all(view.deliveries[0].last_error for view in listed)

    drill.receiver.answer(200)
    assert len(retry_dead(drill.rt)) == GROUP
    drill.wait_all_sent(failing)
    drill.finish()
    drill.assert_exactly_once(recovering + failing, refused_posts=GROUP + GROUP * MAX_ATTEMPTS)
