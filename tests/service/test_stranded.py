"""The cycle hands over open work left waiting on someone who can no longer act, on SQLite and
PostgreSQL.

The race it mends (an action that read the role holders just before a revocation committed
opens a task naming the person after the revocation's own hand-over) is simulated
deterministically: the grant is deleted, or the user deactivated, by a direct table write that
bypasses `revoke_role` / `deactivate_user`, while a countersign or task is open.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.service import directory
from engine.service.actions import act
from engine.service.cycle import run_cycle
from engine.service.cycle_failures import list_failures
from engine.service.dispatch import in_process
from engine.service.escalations import fire_due_escalations
from engine.service.inbox import inbox
from engine.service.runtime import Runtime
from engine.service.stranded import hand_over_stranded
from engine.store.tables import AuditEvent, CycleFailure, Plan, RoleGrant, User
from tests.service.test_cycle import Sent
from tests.service.test_leaving import at_county_approval, audit, open_task, state_of, submitted
from tests.world import setup_world

FOUND = "found by the scheduler's cycle"


class Gone:
    """Someone stops acting for a role behind the commands' back, as the race leaves it."""

    def __init__(self, way: str) -> None:
        self.way = way

    def __call__(self, rt: Runtime, username: str, role: str) -> None:
        user_id = select(User.id).where(User.username == username).scalar_subquery()
        with rt.database.session() as session:
            if self.way == "revoked":
                session.connection().execute(
                    sa.delete(RoleGrant).where(
                        col(RoleGrant.user_id) == user_id, col(RoleGrant.role) == role
                    )
                )
            else:
                session.connection().execute(
                    sa.update(User).where(col(User.username) == username).values(active=False)
                )

    def reason(self, username: str, role: str) -> str:
        if self.way == "revoked":
            return f"{username} no longer holds the role {role}; {FOUND}"
        return f"{username} was deactivated; {FOUND}"


@pytest.fixture(params=["revoked", "deactivated"])
def gone(request: pytest.FixtureRequest) -> Gone:
    return Gone(request.param)


def cycle(rt: Runtime) -> str:
    report = run_cycle(rt, in_process(rt, Sent()))
    assert not report.failures, report.failures
    return report.summary()


def test_a_stranded_signer_is_taken_off_and_the_round_goes_on(rt: Runtime, gone: Gone) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    before = len(audit(rt, plan_id))
    gone(rt, "li-county", "county_approver")

    summary = cycle(rt)

    assert "stranded plans handed over 1" in summary
    task, org, signers = open_task(rt, plan_id)
    assert (org, signers) == ("county", [("wang-county", None)])
    assert audit(rt, plan_id)[before:] == [
        (
            "reassign",
            None,
            "county_approval",
            {
                "task": task.id,
                "role": "county_approver",
                "removed": "li-county",
                "reason": gone.reason("li-county", "county_approver"),
                "signers": ["wang-county"],
            },
        )
    ]
    assert act(rt, plan_id=plan_id, trigger="approve", actor="wang-county").to_state == (
        "executing"
    )


def test_the_last_undecided_signer_stranded_completes_the_round(rt: Runtime, gone: Gone) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    gone(rt, "li-county", "county_approver")

    cycle(rt)

    assert state_of(rt, plan_id) == "executing"
    reassign, completed = audit(rt, plan_id)[-2:]
    assert reassign[:3] == ("reassign", None, "county_approval")
    assert reassign[3]["removed"] == "li-county" and reassign[3]["signers"] == []
    assert completed == (
        "approve",
        None,
        "executing",
        {"signed": 1, "of": 1, "task": reassign[3]["task"], "completed_after": "reassign"},
    )


def test_a_stranded_only_signer_moves_the_task_to_the_nearest_holders(
    rt: Runtime, gone: Gone
) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    plan_id = at_county_approval(rt)
    assert open_task(rt, plan_id)[1:] == ("zishan-town", [("qin-zishan", None)])
    gone(rt, "qin-zishan", "county_approver")

    cycle(rt)

    task, org, signers = open_task(rt, plan_id)
    assert (org, signers) == ("county", [("wang-county", None), ("li-county", None)])
    assert audit(rt, plan_id)[-1][3] == {
        "task": task.id,
        "role": "county_approver",
        "removed": "qin-zishan",
        "reason": gone.reason("qin-zishan", "county_approver"),
        "org": "county",
        "holders": ["wang-county", "li-county"],
        "signers": ["wang-county", "li-county"],
    }


def test_every_signer_stranded_moves_the_task_on_in_one_cycle(rt: Runtime, gone: Gone) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)  # the county's two approvers sign
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    gone(rt, "wang-county", "county_approver")
    gone(rt, "li-county", "county_approver")

    cycle(rt)

    assert open_task(rt, plan_id)[1:] == ("zishan-town", [("qin-zishan", None)])
    first, second = audit(rt, plan_id)[-2:]
    assert (first[3]["removed"], first[3]["signers"]) == ("wang-county", ["li-county"])
    assert (second[3]["removed"], second[3]["holders"]) == ("li-county", ["qin-zishan"])


def test_a_task_whose_sole_holder_is_gone_moves_to_the_nearest_holders(
    rt: Runtime, clock: SimulatedClock, gone: Gone
) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    plan_id = submitted(rt)
    clock.advance(dt.timedelta(days=11))  # the township review escalates to qin-zishan
    [escalated] = fire_due_escalations(rt)
    gone(rt, "qin-zishan", "county_approver")

    cycle(rt)

    assert [e.escalated for e in inbox(rt, actor="wang-county")] == [True]
    # A `sign: any` task names nobody: the reason says whom it lacks, and where.
    assert audit(rt, plan_id)[-1] == (
        "reassign",
        None,
        "township_review",
        {
            "task": escalated.task_id,
            "role": "county_approver",
            "reason": f"nobody at zishan-town holds the role county_approver any more; {FOUND}",
            "org": "county",
            "holders": ["wang-county", "li-county"],
        },
    )


def test_nothing_stranded_costs_one_query_and_writes_nothing(rt: Runtime) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    factory = submitted(rt, "zishan-bike-factory")
    run_cycle(rt, in_process(rt, Sent()))  # the notices of the tasks opened go out
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with rt.database.session() as session:
        audit_rows = session.exec(select(sa.func.count(col(AuditEvent.id)))).one()
        versions = session.exec(select(Plan.id, Plan.version).order_by(col(Plan.id))).all()
    sa.event.listen(rt.database.engine, "before_cursor_execute", count)
    try:
        assert hand_over_stranded(rt) == []
    finally:
        sa.event.remove(rt.database.engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements

    report = run_cycle(rt, in_process(rt, Sent()))
    assert report.handovers == [] and report.idle
    with rt.database.session() as session:
        assert session.exec(select(sa.func.count(col(AuditEvent.id)))).one() == audit_rows
        assert session.exec(select(Plan.id, Plan.version).order_by(col(Plan.id))).all() == versions
    assert [plan_id, factory] == [p for p, _ in versions]


def test_a_plan_nobody_can_take_is_a_cycle_failure_and_the_others_are_handed_over(
    rt: Runtime, clock: SimulatedClock, gone: Gone
) -> None:
    setup_world(rt)
    school = submitted(rt)  # the township review, zhao-zishan its only possible holder
    county = at_county_approval(rt, "zishan-bike-factory")
    school_audit = audit(rt, school)
    gone(rt, "zhao-zishan", "township_reviewer")
    gone(rt, "li-county", "county_approver")

    report = run_cycle(rt, in_process(rt, Sent()))

    assert open_task(rt, county)[2] == [("wang-county", None)]  # handed over
    assert audit(rt, school) == school_audit  # rolled back: nothing written, nothing flooded
    [refused] = [h for h in report.handovers if h.error]
    assert refused.plan_id == school
    assert "nobody else holds the role township_reviewer" in (refused.error or "")
    assert "stranded plans handed over 1 (1 refused)" in report.summary()
    [failure] = list_failures(rt)
    assert (failure.step, failure.plan_id, failure.what) == ("handover", school, "stranded tasks")
    assert failure.error == refused.error and failure.attempts == 1

    # The next cycles leave it alone until its back-off has run out, then try once more.
    assert run_cycle(rt, in_process(rt, Sent())).handovers == []
    clock.advance(dt.timedelta(minutes=1))
    assert [h.plan_id for h in run_cycle(rt, in_process(rt, Sent())).handovers] == [school]
    [failure] = list_failures(rt)
    assert failure.attempts == 2
    assert audit(rt, school) == school_audit
    # A plan that has changed since (another write bumped its version) is tried again at once.
    assert run_cycle(rt, in_process(rt, Sent())).handovers == []
    with rt.database.session() as session:
        session.connection().execute(
            sa.update(Plan).where(col(Plan.id) == school).values(version=Plan.version + 1)
        )
    assert [h.plan_id for h in run_cycle(rt, in_process(rt, Sent())).handovers] == [school]
    [failure] = list_failures(rt)
    assert failure.attempts == 1  # counted afresh: a failure of the plan as it is now

    # A holder for the step: it is handed over, and nothing is listed as failing any more.
    directory.create_user(
        rt, username="xu-zishan", name="徐", org="zishan-town", roles=["township_reviewer"]
    )
    run_cycle(rt, in_process(rt, Sent()))
    assert list_failures(rt) == []
    with rt.database.session() as session:
        assert session.exec(select(CycleFailure)).all() == []
    assert [e.plan.id for e in inbox(rt, actor="xu-zishan")] == [school]
