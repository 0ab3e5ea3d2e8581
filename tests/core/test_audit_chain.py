"""The audit hash chain, without a database: what the hash covers and which break is found."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from engine.core.audit_chain import (
    AuditContent,
    ChainedRow,
    detail_json,
    first_break,
    row_hash,
)

AT = dt.datetime(2027, 1, 5, 1, 30, 0, 123456, tzinfo=dt.UTC)


def content(version: int, **changes: object) -> AuditContent:
    base = AuditContent(
        plan_id=7,
        plan_version=version,
        actor_id=3,
        at=AT + dt.timedelta(hours=version),
        action="approve",
        from_state="township_review",
        to_state="county_approval",
        comment="同意",
        idempotency_key=None,
        request_hash=None,
        detail=detail_json({"score": 90.5, "as_role": "county_approver"}),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(count: int) -> list[ChainedRow]:
    rows: list[ChainedRow] = []
    prev: str | None = None
    for version in range(1, count + 1):
        made = content(version)
        digest = row_hash(made, prev)
        rows.append(ChainedRow(id=100 + version, content=made, prev_hash=prev, row_hash=digest))
        prev = digest
    return rows


def test_an_intact_chain_has_no_break() -> None:
    assert first_break(7, chain(4), plan_version=4) is None
    assert first_break(7, [], plan_version=None) is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("plan_id", 8),
        ("plan_version", 9),
        ("actor_id", None),
        ("at", AT + dt.timedelta(microseconds=1)),
        ("action", "return"),
        ("from_state", "draft"),
        ("to_state", "draft"),
        ("comment", "同意。"),
        ("idempotency_key", "k"),
        ("request_hash", "0" * 64),
        ("detail", detail_json({"score": 91})),
    ],
)
def test_the_hash_covers_every_field(field: str, value: object) -> None:
    made = content(1)
    assert row_hash(dataclasses.replace(made, **{field: value}), None) != row_hash(made, None)  # type: ignore[arg-type]
    assert row_hash(made, "a" * 64) != row_hash(made, None)


def test_the_hash_depends_on_what_is_said_not_how_it_is_written() -> None:
    made = content(1)
    spaced = dataclasses.replace(made, detail='{"score": 90.5,  "as_role": "county_approver"}')
    shanghai = dataclasses.replace(made, at=made.at.astimezone(dt.timezone(dt.timedelta(hours=8))))
    assert row_hash(spaced, None) == row_hash(made, None) == row_hash(shanghai, None)
    assert len(row_hash(made, None)) == 64


def test_an_edited_row_is_named() -> None:
    rows = chain(4)
    rows[2] = dataclasses.replace(rows[2], content=content(3, comment="改过的意见"))
    found = first_break(7, rows, plan_version=4)
    assert found is not None and found.row_id == 103
    assert "edited" in found.problem
    assert str(found).startswith("plan #7, row #103: ")


def test_a_deleted_row_breaks_the_next_link() -> None:
    rows = chain(4)
    del rows[1]
    found = first_break(7, rows, plan_version=4)
    assert found is not None and found.row_id == 103
    assert "does not follow row #101" in found.problem and "deleted" in found.problem


def test_reordered_rows_are_found() -> None:
    rows = chain(4)
    # Swap what rows 102 and 103 hold, hashes and all: each row matches its own hash.
    second, third = rows[1], rows[2]
    rows[1] = dataclasses.replace(third, id=second.id)
    rows[2] = dataclasses.replace(second, id=third.id)
    found = first_break(7, rows, plan_version=4)
    assert found is not None and found.row_id == 102
    assert "reordered" in found.problem


def test_rows_missing_at_the_end_show_against_the_plan_version() -> None:
    found = first_break(7, chain(3), plan_version=4)
    assert found is not None and found.row_id is None
    assert "at version 4 but its log ends at version 3" in found.problem
    assert first_break(7, [], plan_version=2) is not None


def test_a_row_without_a_hash_or_with_a_forged_one_is_a_break() -> None:
    rows = chain(2)
    assert first_break(7, [dataclasses.replace(rows[0], row_hash=None)]) is not None
    forged = dataclasses.replace(rows[1], row_hash="f" * 64)
    found = first_break(7, [rows[0], forged])
    assert found is not None and found.row_id == 102


def test_a_row_whose_version_skips_is_found_even_with_a_recomputed_link() -> None:
    rows = chain(1)
    skipped = content(3)
    digest = row_hash(skipped, rows[0].row_hash)
    rows.append(ChainedRow(id=105, content=skipped, prev_hash=rows[0].row_hash, row_hash=digest))
    found = first_break(7, rows, plan_version=3)
    assert found is not None and found.row_id == 105 and "version 3 where 2" in found.problem


def chain_at(times: list[dt.datetime]) -> list[ChainedRow]:
    """A correctly hashed chain whose rows are dated `times`: only the dates can be wrong."""
    rows: list[ChainedRow] = []
    prev: str | None = None
    for version, at in enumerate(times, start=1):
        made = content(version, at=at)
        digest = row_hash(made, prev)
        rows.append(ChainedRow(id=100 + version, content=made, prev_hash=prev, row_hash=digest))
        prev = digest
    return rows


def test_time_running_backwards_is_a_break_beyond_the_clock_tolerance() -> None:
    from engine.core.audit_chain import CLOCK_TOLERANCE

    rehearsed = [AT, AT + dt.timedelta(days=330), AT + dt.timedelta(days=1)]
    found = first_break(7, chain_at(rehearsed), plan_version=3)
    assert found is not None and found.row_id == 103
    assert "before row #102" in found.problem and "time runs backwards" in found.problem
    skewed = [AT, AT + CLOCK_TOLERANCE, AT + dt.timedelta(seconds=1)]  # two servers' clocks
    assert first_break(7, chain_at(skewed), plan_version=3) is None
