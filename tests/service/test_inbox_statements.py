"""The inbox reads a fixed number of statements whatever the number of its entries: what each
entry allows (`possible_now`) is decided from data read once for all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from engine.demo.world import COUNTY_APPROVERS, DRAFTER, GRASSROOTS, REVIEWER
from engine.service.actions import act
from engine.service.inbox import inbox
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from tests.world import setup_world, small_plan


@contextmanager
def counted(rt: Runtime) -> Iterator[list[str]]:
    """The statements sent to the database meanwhile (SQLAlchemy's `before_cursor_execute`,
    which the driver path fires too)."""
    seen: list[str] = []

    def before(*args: Any) -> None:
        seen.append(args[2])

    engine = rt.database.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def statements_of(rt: Runtime, read: Callable[[], object]) -> int:
    read()  # compiled workflows and statements cached, as in a running server
    with counted(rt) as seen:
        read()
    return len(seen)


def _to_county(rt: Runtime, org: str, year: int) -> int:
    plan_id = create_plan(rt, spec=small_plan(org, year=year), actor=DRAFTER[org]).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=DRAFTER[org])
    township = GRASSROOTS[org][1]
    act(rt, plan_id=plan_id, trigger="approve", actor=REVIEWER[township])
    return plan_id


def test_the_inbox_statement_count_does_not_grow_with_its_entries(rt: Runtime) -> None:
    setup_world(rt)
    orgs = list(GRASSROOTS)
    _to_county(rt, orgs[0], 2027)
    approver = COUNTY_APPROVERS[0]
    one = statements_of(rt, lambda: inbox(rt, actor=approver))
    assert len(inbox(rt, actor=approver)) == 1

    # Eight more, of every grassroots union, one of them signed by the other approver already.
    more = [_to_county(rt, orgs[n % len(orgs)], 2028 + n) for n in range(8)]
    act(rt, plan_id=more[0], trigger="approve", actor=COUNTY_APPROVERS[1])
    entries = inbox(rt, actor=approver)
    assert len(entries) == 9
    assert all(entry.triggers for entry in entries)  # decided for each, as before
    assert statements_of(rt, lambda: inbox(rt, actor=approver)) == one
