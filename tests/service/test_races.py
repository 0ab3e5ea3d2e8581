"""Eight people decide on one task at the same moment: exactly one wins, with one audit row."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import Session, func, select

from engine.core.errors import PlanBusy, PlanflowError
from engine.service.actions import act
from engine.service.audit import verify_audit
from engine.service.directory import create_user
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.reporting import report_item
from engine.service.runtime import Runtime
from engine.store.database import Database
from engine.store.plans import lock_plan
from engine.store.statuses import ItemStatus
from engine.store.tables import AuditEvent
from tests.world import setup_world, small_plan, world_with_live_plan

ACTORS = 8


@pytest.mark.parametrize("with_expected_version", [True, False])
def test_eight_racing_approvers(rt: Runtime, with_expected_version: bool) -> None:
    setup_world(rt)
    for n in range(ACTORS - 1):  # zhao-zishan plus seven more reviewers at the township
        create_user(
            rt,
            username=f"reviewer-{n}",
            name=f"审核人{n}",
            org="zishan-town",
            roles=["township_reviewer"],
        )
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    seen = act(rt, plan_id=plan_id, trigger="submit", actor="chen-school").version
    reviewers = ["zhao-zishan"] + [f"reviewer-{n}" for n in range(ACTORS - 1)]

    start = threading.Barrier(ACTORS)
    outcomes: dict[str, str] = {}

    def decide(username: str) -> None:
        start.wait()
        try:
            act(
                rt,
                plan_id=plan_id,
                trigger="approve",
                actor=username,
                expected_version=seen if with_expected_version else None,
            )
            outcomes[username] = "won"
        except PlanflowError as error:
            outcomes[username] = type(error).__name__

    threads = [threading.Thread(target=decide, args=(name,)) for name in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes.values()).count("won") == 1, outcomes
    losers = {v for v in outcomes.values() if v != "won"}
    # With the version they saw, losers get a Conflict; without, the plan has moved on to a
    # step they may not take (PermissionDenied) — never a database error.
    assert losers <= {"Conflict", "PermissionDenied", "ActionRefused"}, outcomes
    if with_expected_version:
        assert losers == {"Conflict"}
    with rt.database.session() as session:
        approvals = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.plan_id == plan_id, AuditEvent.action == "approve")
        ).one()
    assert approvals == 1
    assert show_plan(rt, plan_id=plan_id, actor="wang-county").plan.state == "county_approval"


def test_racing_writes_that_all_succeed_keep_one_unbroken_chain(rt: Runtime) -> None:
    """Each write chains to the row before it, read under the plan's lock: eight reports at once
    give eight rows, each following the one before, never two on the same predecessor."""
    plan_id = world_with_live_plan(rt, items=ACTORS)
    start = threading.Barrier(ACTORS)
    failures: list[BaseException] = []

    def report(number: int) -> None:
        start.wait()
        try:
            report_item(
                rt,
                plan_id=plan_id,
                actor="chen-school",
                item_number=number,
                status=ItemStatus.DONE,
            )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=report, args=(n,)) for n in range(1, ACTORS + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    result = verify_audit(rt, plan_id=plan_id)
    assert result.ok, result.breaks
    with rt.database.session() as session:
        prev_hashes = session.exec(
            select(AuditEvent.prev_hash).where(AuditEvent.plan_id == plan_id)
        ).all()
    assert len(set(prev_hashes)) == len(prev_hashes) == 5 + ACTORS


LOCK_TIMEOUT = 0.5


def test_a_busy_plan_answers_plan_busy_within_the_lock_timeout(
    rt: Runtime, database_url: str
) -> None:
    """One transaction holds the plan's lock; another write is refused by name, writing nothing."""
    setup_world(rt)
    plan_id = create_plan(rt, spec=small_plan(), actor="chen-school").plan_id
    before = show_plan(rt, plan_id=plan_id, actor="chen-school").plan.version
    impatient = Runtime(
        database=Database(database_url, lock_timeout_seconds=LOCK_TIMEOUT),
        settings=rt.settings,
        clock=rt.clock,
        calendar=rt.calendar,
    )
    try:
        with rt.database.transaction() as holder:
            assert lock_plan(holder, plan_id=plan_id) is not None
            started = time.monotonic()
            with pytest.raises(PlanBusy) as refused:
                act(impatient, plan_id=plan_id, trigger="submit", actor="chen-school")
            waited = time.monotonic() - started
    finally:
        impatient.database.dispose()
    assert refused.value.message == (f"plan #{plan_id} is being changed by someone else; try again")
    assert refused.value.retryable and refused.value.plan_id == plan_id
    assert LOCK_TIMEOUT * 0.8 <= waited < LOCK_TIMEOUT + 3, waited
    shown = show_plan(rt, plan_id=plan_id, actor="chen-school")
    assert (shown.plan.version, shown.plan.state) == (before, "draft")
    with Session(rt.database.engine) as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.plan_id == plan_id))
        assert list(actions) == ["create"]
