"""The audit log cannot be quietly changed: the database refuses UPDATE and DELETE of its rows,
and `verify_audit` finds the first broken link of a chain changed behind the triggers' back.

To tamper, these tests do what an intruder with the database owner's rights would: drop the
triggers (the guard's own drop statements), change rows, and put the triggers back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from engine.service.audit import verify_audit
from engine.service.runtime import Runtime
from engine.store import audit_guard
from tests.world import live_plan, setup_world


def rows_of(rt: Runtime, plan_id: int) -> list[int]:
    with rt.database.engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                f"SELECT id FROM audit_event WHERE plan_id = {plan_id} ORDER BY id"
            ).scalars()
        )


@contextmanager
def without_guard(rt: Runtime) -> Iterator[sa.Connection]:
    """A transaction with the append-only triggers dropped; they are back when it ends."""
    dialect = rt.database.engine.dialect.name
    with rt.database.engine.begin() as connection:
        for statement in audit_guard.drop_statements(dialect):
            connection.exec_driver_sql(statement)
        yield connection
        for statement in audit_guard.create_statements(dialect):
            connection.exec_driver_sql(statement)


@pytest.fixture
def two_plans(rt: Runtime) -> tuple[int, int]:
    setup_world(rt)
    return live_plan(rt), live_plan(rt, "songshan-hospital")


@pytest.mark.parametrize(
    "statement, verb",
    [
        ("UPDATE audit_event SET comment = 'changed' WHERE id = {row}", "UPDATE"),
        ("DELETE FROM audit_event WHERE id = {row}", "DELETE"),
    ],
)
def test_the_database_refuses_to_change_or_delete_audit_rows(
    rt: Runtime, two_plans: tuple[int, int], statement: str, verb: str
) -> None:
    row = rows_of(rt, two_plans[0])[1]
    with pytest.raises(sa.exc.DBAPIError) as refused, rt.database.engine.begin() as connection:
        connection.exec_driver_sql(statement.format(row=row))
    assert f"audit_event rows are append-only: {verb} refused" in str(refused.value.orig)
    assert isinstance(refused.value, sa.exc.IntegrityError)
    assert verify_audit(rt).ok


def test_a_normal_history_verifies(rt: Runtime, two_plans: tuple[int, int]) -> None:
    result = verify_audit(rt)
    assert result.ok, result
    assert result.plans == 2
    assert result.rows == sum(len(rows_of(rt, plan)) for plan in two_plans)
    assert verify_audit(rt, plan_id=two_plans[1]).rows == len(rows_of(rt, two_plans[1]))


def test_an_edited_row_is_the_first_broken_link(rt: Runtime, two_plans: tuple[int, int]) -> None:
    first, other = two_plans
    rows = rows_of(rt, first)
    with without_guard(rt) as connection:
        connection.exec_driver_sql(
            f"UPDATE audit_event SET comment = '同意' WHERE id IN ({rows[1]}, {rows[3]})"
        )
    result = verify_audit(rt)
    assert not result.ok and not result.missing_guards
    assert [(b.plan_id, b.row_id) for b in result.breaks] == [(first, rows[1])]
    assert "was edited" in result.breaks[0].problem
    assert verify_audit(rt, plan_id=other).ok


def test_a_deleted_row_is_found(rt: Runtime, two_plans: tuple[int, int]) -> None:
    first, _ = two_plans
    rows = rows_of(rt, first)
    with without_guard(rt) as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_event WHERE id = {rows[2]}")
    (found,) = verify_audit(rt).breaks
    assert (found.plan_id, found.row_id) == (first, rows[3])
    assert f"does not follow row #{rows[1]}" in found.problem


def test_the_last_row_deleted_is_found(rt: Runtime, two_plans: tuple[int, int]) -> None:
    first, _ = two_plans
    last = rows_of(rt, first)[-1]
    with without_guard(rt) as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_event WHERE id = {last}")
    (found,) = verify_audit(rt).breaks
    assert found.row_id is None and "rows at the end are missing" in found.problem


def test_reordered_rows_are_found(rt: Runtime, two_plans: tuple[int, int]) -> None:
    first, _ = two_plans
    rows = rows_of(rt, first)
    columns = (
        "at, actor_id, action, from_state, to_state, comment, plan_version, request_hash, "
        "detail, prev_hash, row_hash"
    )
    with without_guard(rt) as connection:
        # Swap two rows' whole content, hashes included: each row still matches its own hash.
        a, b = rows[1], rows[2]
        saved = connection.exec_driver_sql(f"SELECT {columns} FROM audit_event WHERE id = {a}")
        values = saved.one()
        names = [c.strip() for c in columns.split(",")]
        copy = ", ".join(f"{n} = (SELECT {n} FROM audit_event WHERE id = {b})" for n in names)
        connection.exec_driver_sql(f"UPDATE audit_event SET {copy} WHERE id = {a}")
        connection.execute(
            sa.text(
                f"UPDATE audit_event SET {', '.join(f'{n} = :{n}' for n in names)} WHERE id = {b}"
            ),
            dict(zip(names, values, strict=True)),
        )
    (found,) = verify_audit(rt).breaks
    assert (found.plan_id, found.row_id) == (first, rows[1])
    assert "reordered" in found.problem


def test_a_forged_row_appended_is_found(rt: Runtime, two_plans: tuple[int, int]) -> None:
    """Inserting is allowed (the log is append-only), but a row not written by a plan write
    neither chains to the plan's last row nor matches the plan's version."""
    first, _ = two_plans
    last = rows_of(rt, first)[-1]
    with rt.database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO audit_event (plan_id, at, action, from_state, to_state, plan_version) "
            f"SELECT plan_id, at, 'approve', to_state, 'closed', plan_version + 1 "
            f"FROM audit_event WHERE id = {last}"
        )
    (found,) = verify_audit(rt).breaks
    assert found.row_id == rows_of(rt, first)[-1] and "no hash" in found.problem


def test_a_dropped_trigger_is_reported(rt: Runtime, two_plans: tuple[int, int]) -> None:
    dialect = rt.database.engine.dialect.name
    with rt.database.engine.begin() as connection:
        connection.exec_driver_sql(audit_guard.drop_statements(dialect)[0])
    try:
        result = verify_audit(rt)
    finally:
        with without_guard(rt):
            pass  # drops what is left of the guard and installs it whole again
    assert not result.ok and not result.breaks
    expected = "audit_event_no_update" if dialect == "sqlite" else "audit_event_append_only"
    assert result.missing_guards == (expected,)


def test_a_disabled_trigger_is_reported_on_postgresql(
    rt: Runtime, two_plans: tuple[int, int]
) -> None:
    if rt.database.is_sqlite:
        pytest.skip("SQLite triggers cannot be disabled, only dropped")
    with rt.database.engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"
        )
    try:
        assert verify_audit(rt).missing_guards == ("audit_event_append_only",)
    finally:
        with rt.database.engine.begin() as connection:
            connection.exec_driver_sql(
                "ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"
            )


def test_a_write_dated_before_the_plans_last_event_is_refused(rt: Runtime) -> None:
    """A rehearsal's pretended moment (or a clock set forward) on a live database, then the real
    clock: the plan's log would run backwards, so the write is refused and nothing is written."""
    import datetime as dt

    from engine.core.clock import SimulatedClock
    from engine.core.errors import ConfigurationError
    from engine.service.reporting import report_item
    from engine.store.statuses import ItemStatus

    setup_world(rt)
    plan_id = live_plan(rt)
    clock = rt.clock
    assert isinstance(clock, SimulatedClock)
    clock.advance(dt.timedelta(days=365))  # a rehearsal's moment
    report_item(rt, plan_id=plan_id, actor="chen-school", item_number=1, status=ItemStatus.DONE)
    clock.advance(dt.timedelta(days=-364))  # the real clock again
    with pytest.raises(ConfigurationError, match=r"last recorded event is dated .* nothing was"):
        report_item(rt, plan_id=plan_id, actor="chen-school", item_number=2, status=ItemStatus.DONE)
    assert verify_audit(rt, plan_id=plan_id).ok
    clock.advance(dt.timedelta(days=364, minutes=-4))  # within the clocks' tolerance: written
    report_item(rt, plan_id=plan_id, actor="chen-school", item_number=2, status=ItemStatus.DONE)
    assert verify_audit(rt, plan_id=plan_id).ok
