"""What the replay asks between two cycles reads alike on SQLite and PostgreSQL.

The store answers these on the driver's cursor (`engine/store/schedule.py`), where a time comes
back through the driver's own conversion rather than SQLAlchemy's; so they are checked against the
rows on both databases: the next planned reminder, the next delivery attempt, what went out.
"""

from __future__ import annotations

from sqlmodel import Session, select

from engine.core.clock import SimulatedClock
from engine.core.messages import Message, Recipient
from engine.core.planning import TASK_ESCALATION
from engine.demo.world import DRAFTER
from engine.service.actions import act
from engine.service.cycle import run_cycle
from engine.service.dispatch import in_process
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.store.progress import plan_items, plan_standing, plans_per_state
from engine.store.schedule import next_due, sent_by_kind, sent_messages
from engine.store.statuses import ReminderStatus
from engine.store.tables import Reminder
from tests.world import setup_world, small_plan

ORG = "zishan-middle-school"


def test_the_next_moment_and_what_went_out_read_as_the_rows_say(
    rt: Runtime, clock: SimulatedClock
) -> None:
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(ORG), actor=DRAFTER[ORG]).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER[ORG])  # opens the review task
    now = clock()
    with Session(rt.database.engine) as session:
        planned = [r for r in session.exec(select(Reminder)) if r.status == ReminderStatus.PLANNED]
    later = [r.fire_at for r in planned if r.fire_at > now]
    assert later and len(later) < len(planned)  # the task's notice is due at once, not later

    with rt.database.read() as tx:
        due = next_due(tx, after=now)
        assert due.reminder == min(later) and due.reminder.tzinfo is not None
        assert due.delivery is None and due.first == due.reminder
        assert sent_messages(tx) == 0 and sent_by_kind(tx, plan_ids=[plan_id]) == {}
        standing = plan_standing(tx, plan_id=plan_id)
        assert standing is not None and standing.state == "township_review"
        assert [item.month for item in plan_items(tx, plan_id=plan_id, month=2)] == [2]
        assert plans_per_state(tx, plan_ids=[plan_id]) == {"township_review": 1}

    sent: list[str] = []

    def send(channel: str, recipient: Recipient, message: Message) -> None:
        sent.append(recipient.username)

    run_cycle(rt, in_process(rt, send))
    with Session(rt.database.engine) as session:
        went_out = [
            r
            for r in session.exec(select(Reminder))
            if r.status == ReminderStatus.SENT and r.kind != TASK_ESCALATION
        ]
    assert sent and went_out
    with rt.database.read() as tx:
        assert sent_messages(tx) == len(went_out)
        assert sent_by_kind(tx, plan_ids=[plan_id]) == {"task_opened": len(went_out)}
        assert sent_by_kind(tx, plan_ids=[plan_id + 1]) == {}
