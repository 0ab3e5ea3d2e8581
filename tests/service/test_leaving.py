"""Revoking a role or deactivating a user leaves no step waiting for them, on SQLite and PostgreSQL.

The county step of a school plan is countersigned by both county approvers (`sign: all`); the
township review is taken by the township's one reviewer (`sign: any`, scope `children`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from engine.core.clock import SimulatedClock
from engine.core.errors import ActionRefused, NotFound, PermissionDenied, PlanflowError
from engine.service import directory
from engine.service.actions import act
from engine.service.dispatch import in_process, publish_outbox, sweep_reminders
from engine.service.escalations import fire_due_escalations
from engine.service.inbox import inbox
from engine.service.leaving import deactivate_user, revoke_role
from engine.service.plan_views import show_plan
from engine.service.plans import create_plan
from engine.service.runtime import Runtime
from engine.service.templates import load_template
from engine.service.writes import WriteResult
from engine.store.tables import AuditEvent, Organisation, RoleGrant, Task, TaskSigner, User
from tests.world import SEQUENCE, setup_world, small_plan, world_with_live_plan

# A countersign taken in sequence (wang-county first, li-county second: their grant order).


def at_county_approval(rt: Runtime, org: str = "zishan-middle-school") -> int:
    drafter = {"zishan-middle-school": "chen-school", "zishan-bike-factory": "liu-factory"}[org]
    plan_id = create_plan(rt, spec=small_plan(org), actor=drafter).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)
    act(rt, plan_id=plan_id, trigger="approve", actor="zhao-zishan")
    return plan_id


def submitted(
    rt: Runtime, org: str = "zishan-middle-school", template: str = "annual-work-plan"
) -> int:
    drafter = {"zishan-middle-school": "chen-school", "zishan-bike-factory": "liu-factory"}[org]
    plan_id = create_plan(rt, spec=small_plan(org, template=template), actor=drafter).plan_id
    act(rt, plan_id=plan_id, trigger="submit", actor=drafter)
    return plan_id


def state_of(rt: Runtime, plan_id: int) -> str:
    return show_plan(rt, plan_id=plan_id, actor="wang-county").plan.state


def audit(rt: Runtime, plan_id: int) -> list[tuple[str, str | None, str | None, Any]]:
    """(action, actor, to_state, detail) of the plan's audit rows, oldest first."""
    with rt.database.session() as session:
        rows = session.exec(
            select(AuditEvent, User)
            .outerjoin(User, col(User.id) == AuditEvent.actor_id)
            .where(AuditEvent.plan_id == plan_id)
            .order_by(col(AuditEvent.id))
        ).all()
        return [
            (
                event.action,
                user.username if user else None,
                event.to_state,
                json.loads(event.detail) if event.detail else None,
            )
            for event, user in rows
        ]


def open_task(rt: Runtime, plan_id: int) -> tuple[Task, str, list[tuple[str, str | None]]]:
    """The plan's open step task, its organisation's code and its signers (username, decision)."""
    with rt.database.session() as session:
        task = session.exec(
            select(Task).where(
                Task.plan_id == plan_id, Task.status == "open", col(Task.escalated_from).is_(None)
            )
        ).one()
        org = session.get(Organisation, task.org_id)
        assert org is not None
        signers = session.exec(
            select(User.username, TaskSigner.decision)
            .join(TaskSigner, col(TaskSigner.user_id) == User.id)
            .where(TaskSigner.task_id == task.id)
            .order_by(col(TaskSigner.position))
        ).all()
        return task, org.code, [(name, decision) for name, decision in signers]


def grants(rt: Runtime, username: str) -> list[str]:
    with rt.database.session() as session:
        return list(
            session.exec(
                select(RoleGrant.role)
                .join(User, col(User.id) == RoleGrant.user_id)
                .where(User.username == username)
                .order_by(col(RoleGrant.id))
            )
        )


class Leave:
    """One of the two ways someone stops acting for a role: revoking it, or deactivating them."""

    def __init__(self, way: str) -> None:
        self.way = way

    def __call__(self, rt: Runtime, username: str, role: str) -> list[WriteResult]:
        if self.way == "revoke":
            return revoke_role(rt, username=username, role=role)
        return deactivate_user(rt, username=username)

    def reason(self, username: str, role: str) -> str:
        if self.way == "revoke":
            return f"the role {role} was revoked"
        return f"{username} was deactivated"

    def refusal(self, username: str, role: str) -> str:
        if self.way == "revoke":
            return f"cannot revoke {role} from {username}:"
        return f"cannot deactivate {username}:"


@pytest.fixture(params=["revoke", "deactivate"])
def leave(request: pytest.FixtureRequest) -> Leave:
    return Leave(request.param)


def test_an_undecided_signer_leaving_lets_the_round_go_on_with_the_others(
    rt: Runtime, leave: Leave
) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    versions_before = len(audit(rt, plan_id))

    leave(rt, "li-county", "county_approver")

    task, org, signers = open_task(rt, plan_id)
    assert (org, signers) == ("county", [("wang-county", None)])
    [reassign] = audit(rt, plan_id)[versions_before:]
    assert reassign == (
        "reassign",
        None,
        "county_approval",
        {
            "task": task.id,
            "role": "county_approver",
            "removed": "li-county",
            "reason": leave.reason("li-county", "county_approver"),
            "signers": ["wang-county"],
        },
    )
    assert [e.plan.id for e in inbox(rt, actor="wang-county")] == [plan_id]
    done = act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert done.to_state == "executing"  # one signature was all that was missing


def test_the_last_undecided_signer_leaving_completes_the_round(rt: Runtime, leave: Leave) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")

    results = leave(rt, "li-county", "county_approver")

    assert state_of(rt, plan_id) == "executing"
    reassign, completed = audit(rt, plan_id)[-2:]
    assert reassign[:3] == ("reassign", None, "county_approval")
    assert reassign[3]["removed"] == "li-county" and reassign[3]["signers"] == []
    # The machine fires when the last approval is in: with li-county gone, wang-county's was.
    assert completed == (
        "approve",
        None,
        "executing",
        {"signed": 1, "of": 1, "task": reassign[3]["task"], "completed_after": "reassign"},
    )
    assert [(r.action, r.to_state) for r in results] == [
        ("reassign", "county_approval"),
        ("approve", "executing"),
    ]
    assert inbox(rt, actor="wang-county") == []


def test_in_a_sequence_the_next_signer_takes_the_turn(rt: Runtime, leave: Leave) -> None:
    setup_world(rt)
    load_template(rt, content=SEQUENCE, source="sequence.yaml")
    plan_id = submitted(rt, template="sequence")
    with pytest.raises(ActionRefused, match="it is 王建国's turn first"):
        act(rt, plan_id=plan_id, trigger="approve", actor="li-county")

    leave(rt, "wang-county", "county_approver")

    assert [e.plan.id for e in inbox(rt, actor="li-county")] == [plan_id]
    assert act(rt, plan_id=plan_id, trigger="approve", actor="li-county").to_state == "done"


def test_the_only_signer_leaving_moves_the_task_to_the_nearest_holders(
    rt: Runtime, leave: Leave
) -> None:
    setup_world(rt)
    # A county approver at the township is nearer to the school than the county's two.
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    plan_id = at_county_approval(rt)
    assert open_task(rt, plan_id)[1:] == ("zishan-town", [("qin-zishan", None)])

    leave(rt, "qin-zishan", "county_approver")

    task, org, signers = open_task(rt, plan_id)
    assert (org, signers) == ("county", [("wang-county", None), ("li-county", None)])
    assert audit(rt, plan_id)[-1] == (
        "reassign",
        None,
        "county_approval",
        {
            "task": task.id,
            "role": "county_approver",
            "removed": "qin-zishan",
            "reason": leave.reason("qin-zishan", "county_approver"),
            "org": "county",
            "holders": ["wang-county", "li-county"],
            "signers": ["wang-county", "li-county"],
        },
    )
    assert [e.plan.id for e in inbox(rt, actor="li-county")] == [plan_id]
    act(rt, plan_id=plan_id, trigger="approve", actor="wang-county")
    assert act(rt, plan_id=plan_id, trigger="approve", actor="li-county").to_state == "executing"


def test_the_sole_holder_of_a_task_leaving_moves_it_to_the_nearest_holder(
    rt: Runtime, clock: SimulatedClock, leave: Leave
) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    plan_id = submitted(rt)
    # Overdue: the township review escalates to the nearest county approver, qin-zishan.
    clock.advance(dt.timedelta(days=11))
    [escalated] = fire_due_escalations(rt)
    assert [e.escalated for e in inbox(rt, actor="qin-zishan")] == [True]

    leave(rt, "qin-zishan", "county_approver")

    assert [e.escalated for e in inbox(rt, actor="wang-county")] == [True]
    assert audit(rt, plan_id)[-1] == (
        "reassign",
        None,
        "township_review",
        {
            "task": escalated.task_id,
            "role": "county_approver",
            "removed": "qin-zishan",
            "reason": leave.reason("qin-zishan", "county_approver"),
            "org": "county",
            "holders": ["wang-county", "li-county"],
        },
    )
    assert act(rt, plan_id=plan_id, trigger="approve", actor="li-county").to_state == (
        "county_approval"
    )


def test_another_holder_at_the_organisation_keeps_the_task_without_a_write(
    rt: Runtime, leave: Leave
) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username="xu-zishan", name="徐", org="zishan-town", roles=["township_reviewer"]
    )
    plan_id = submitted(rt)
    before = audit(rt, plan_id)

    assert leave(rt, "zhao-zishan", "township_reviewer") == []

    assert audit(rt, plan_id) == before  # the task is the township's: it still has a holder
    assert [e.plan.id for e in inbox(rt, actor="xu-zishan")] == [plan_id]


def test_nobody_left_to_take_a_step_refuses_and_changes_nothing(rt: Runtime, leave: Leave) -> None:
    setup_world(rt)
    school = submitted(rt)
    factory = submitted(rt, "zishan-bike-factory")
    before = {plan_id: audit(rt, plan_id) for plan_id in (school, factory)}

    with pytest.raises(ActionRefused) as refused:
        leave(rt, "zhao-zishan", "township_reviewer")

    message = refused.value.message
    assert message.startswith(leave.refusal("zhao-zishan", "township_reviewer"))
    assert f"plan #{school} (梓山中学工会 2027, township_review): nobody else holds" in message
    assert f"plan #{factory} (梓山自行车厂工会 2027, township_review): nobody else" in message
    assert "nobody else holds the role township_reviewer (镇工会审核人) for 梓山中学工会" in message
    assert "hand them over first" in message
    # Nothing changed: the grant, the user, the plans, and zhao still takes the reviews.
    assert grants(rt, "zhao-zishan") == ["township_reviewer", "drafter"]
    assert {plan_id: audit(rt, plan_id) for plan_id in (school, factory)} == before
    assert {e.plan.id for e in inbox(rt, actor="zhao-zishan")} == {school, factory}


def test_running_it_again_hands_over_what_an_earlier_revocation_left_waiting(
    rt: Runtime,
) -> None:
    setup_world(rt)
    plan_id = at_county_approval(rt)
    # As a revocation did before this version (or a write racing one): the grant is gone, but
    # li-county is still asked to sign.
    with rt.database.session() as session:
        session.connection().execute(
            sa.delete(RoleGrant)
            .where(col(RoleGrant.role) == "county_approver")
            .where(col(RoleGrant.user_id).in_(select(User.id).where(User.username == "li-county")))
        )
    assert open_task(rt, plan_id)[2] == [("wang-county", None), ("li-county", None)]

    [reassign] = revoke_role(rt, username="li-county", role="county_approver")

    assert reassign.detail is not None and reassign.detail["signers"] == ["wang-county"]
    with pytest.raises(NotFound, match="li-county does not hold the role county_approver"):
        revoke_role(rt, username="li-county", role="county_approver")  # nothing left to do
    assert act(rt, plan_id=plan_id, trigger="approve", actor="wang-county").to_state == (
        "executing"
    )


def test_a_role_not_held_is_refused(rt: Runtime) -> None:
    setup_world(rt)
    with pytest.raises(NotFound, match="chen-school does not hold the role county_approver"):
        revoke_role(rt, username="chen-school", role="county_approver")


def test_deactivating_takes_them_off_every_plan_and_they_can_no_longer_act(rt: Runtime) -> None:
    setup_world(rt)
    directory.grant_role(rt, username="li-county", role="drafter")  # a second role to lose
    waiting = at_county_approval(rt)
    signed = at_county_approval(rt, "zishan-bike-factory")
    act(rt, plan_id=signed, trigger="approve", actor="wang-county")

    deactivate_user(rt, username="li-county")

    assert open_task(rt, waiting)[2] == [("wang-county", None)]
    assert state_of(rt, signed) == "executing"
    for plan_id in (waiting, signed):
        reassign = next(row for row in audit(rt, plan_id) if row[0] == "reassign")
        assert reassign[3]["reason"] == "li-county was deactivated"
    # Deactivated: no acting, reading or new tasks; the grants stay on record.
    with pytest.raises(PermissionDenied, match="li-county is deactivated and can no longer act"):
        act(rt, plan_id=waiting, trigger="approve", actor="li-county")
    with pytest.raises(PermissionDenied, match="deactivated"):
        inbox(rt, actor="li-county")
    with pytest.raises(PermissionDenied, match="deactivated"):
        show_plan(rt, plan_id=waiting, actor="li-county")
    with pytest.raises(PermissionDenied, match="deactivated"):
        directory.grant_role(rt, username="li-county", role="township_reviewer")
    assert grants(rt, "li-county") == ["county_approver", "drafter"]
    with pytest.raises(ActionRefused, match="li-county is already deactivated"):
        deactivate_user(rt, username="li-county")


def test_a_deactivated_holder_is_not_the_nearest_holder_of_a_new_task(rt: Runtime) -> None:
    setup_world(rt)
    directory.create_user(
        rt, username="qin-zishan", name="秦", org="zishan-town", roles=["county_approver"]
    )
    deactivate_user(rt, username="qin-zishan")  # no open task yet: nothing to hand over
    plan_id = at_county_approval(rt)
    assert open_task(rt, plan_id)[1:] == (
        "county",
        [("wang-county", None), ("li-county", None)],
    )


def test_a_deactivated_user_receives_no_reminders(rt: Runtime, clock: SimulatedClock) -> None:
    world_with_live_plan(rt, items=1)
    directory.create_user(
        rt, username="xu-school", name="徐", org="zishan-middle-school", roles=["drafter"]
    )
    deactivate_user(rt, username="chen-school")  # the plan is executing: no task waits on her
    sent: list[str] = []
    clock.set(dt.datetime(2027, 1, 31, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    sweep_reminders(rt)
    publish_outbox(
        rt, in_process(rt, lambda channel, recipient, message: sent.append(recipient.username))
    )
    assert sent == ["xu-school"]  # January's due-day reminder, to the drafter still active


@pytest.mark.parametrize(
    ("role", "hint"),
    [
        ("county_aprover", "; did you mean 'county_approver'?"),
        ("no_such_role", "; roles the loaded templates define: county_approver, drafter, "),
    ],
)
def test_a_role_no_loaded_template_defines_is_refused(rt: Runtime, role: str, hint: str) -> None:
    setup_world(rt)
    with pytest.raises(PlanflowError) as refused:
        directory.grant_role(rt, username="chen-school", role=role)
    assert refused.value.message.startswith(f"no loaded template defines the role {role!r}{hint}")
    with pytest.raises(PlanflowError, match="no loaded template defines the role"):
        directory.create_user(rt, username="new-one", name="新", org="county", roles=[role])
    with pytest.raises(NotFound):
        revoke_role(rt, username="new-one", role="drafter")  # not created: no such user
    assert grants(rt, "chen-school") == ["drafter"]


def test_a_revocation_racing_the_other_signers_approval_completes_the_round_once(
    rt: Runtime,
) -> None:
    """Whichever lands first, the step moves on exactly once: no database error, no deadlock."""
    setup_world(rt)
    plans = [at_county_approval(rt), at_county_approval(rt, "zishan-bike-factory")]
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        start.wait()
        try:
            work()
        except BaseException as error:  # reported below
            errors.append(error)

    works: list[Callable[[], object]] = [
        lambda: revoke_role(rt, username="li-county", role="county_approver"),
        *(
            partial(act, rt, plan_id=plan_id, trigger="approve", actor="wang-county")
            for plan_id in plans
        ),
    ]
    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for plan_id in plans:
        assert state_of(rt, plan_id) == "executing"
        assert [row[2] for row in audit(rt, plan_id)].count("executing") == 1
