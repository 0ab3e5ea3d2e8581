"""The audit log's hash chain: what each row's SHA-256 covers, and how a chain is checked.

Each plan's audit rows form a chain in id order: a row stores the hash of the row before it
(`prev_hash`, none for the first) and its own `row_hash`, a SHA-256 over a canonical JSON form of
its content and that previous hash. Editing a row breaks its own hash; deleting or reordering
rows breaks the link of the row after the gap; deleting rows at the end leaves the chain shorter
than the plan's version. Pure: the store writes the hashes and reads the rows, this module only
computes and checks, so the rules are tested without a database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# How far one server's clock may lag another's before a row dated before the row it follows is
# taken for time running backwards (a clock set back, or a rehearsal's pretended moment).
CLOCK_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class AuditContent:
    """What an audit row says, as its hash covers it."""

    plan_id: int
    plan_version: int  # the row's place in its plan's chain: each write bumps it by one
    actor_id: int | None
    at: dt.datetime
    action: str
    from_state: str | None
    to_state: str | None
    comment: str | None
    idempotency_key: str | None
    request_hash: str | None
    detail: str | None  # the stored JSON text


@dataclass(frozen=True)
class ChainedRow:
    """A stored audit row with its chain fields, as a verifier reads it."""

    id: int
    content: AuditContent
    prev_hash: str | None
    row_hash: str | None


@dataclass(frozen=True)
class ChainBreak:
    """The first place where a plan's audit chain does not hold."""

    plan_id: int
    row_id: int | None  # None: the break is after the last row (rows missing at the end)
    problem: str

    def __str__(self) -> str:
        where = f"row #{self.row_id}" if self.row_id is not None else "end of its log"
        return f"plan #{self.plan_id}, {where}: {self.problem}"


def detail_json(detail: Mapping[str, Any] | None) -> str | None:
    """An audit detail as stored: JSON with sorted keys (the form the hash covers)."""
    if not detail:
        return None
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _canonical_detail(detail: str | None) -> Any:
    if detail is None:
        return None
    try:
        return json.loads(detail)
    except ValueError:
        return {"unparsable": detail}  # a tampered row: still hashed, so the check fails


def row_hash(content: AuditContent, prev_hash: str | None) -> str:
    """SHA-256 (hex) over the row's content and the previous row's hash, canonically serialized.

    Times in UTC ISO 8601 with microseconds; the detail re-serialized with sorted keys, so how its
    text was spaced does not matter, only what it says.

    This form is frozen: every stored chain, and migration 0005's backfill, was computed with it.
    A new form would need a version stored with each row and this one kept for the old rows.
    """
    canonical = json.dumps(
        {
            "plan": content.plan_id,
            "version": content.plan_version,
            "actor": content.actor_id,
            "at": content.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "action": content.action,
            "from": content.from_state,
            "to": content.to_state,
            "comment": content.comment,
            "key": content.idempotency_key,
            "request": content.request_hash,
            "detail": _canonical_detail(content.detail),
            "prev": prev_hash,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def first_break(
    plan_id: int, rows: Iterable[ChainedRow], *, plan_version: int | None = None
) -> ChainBreak | None:
    """The first broken link of one plan's chain (`rows` in id order), or None if it holds.

    `plan_version` is the plan's current version: every write appends one row, so a log that ends
    below it lost rows at the end, which no link can show.
    """
    previous: ChainedRow | None = None
    for row in rows:
        if row.content.plan_id != plan_id:
            return ChainBreak(plan_id, row.id, f"the row belongs to plan #{row.content.plan_id}")
        if row.row_hash is None:
            return ChainBreak(plan_id, row.id, "the row has no hash")
        if row_hash(row.content, row.prev_hash) != row.row_hash:
            return ChainBreak(
                plan_id, row.id, "its content does not match its hash: the row was edited"
            )
        expected_prev = previous.row_hash if previous is not None else None
        if row.prev_hash != expected_prev:
            after = f"row #{previous.id}" if previous is not None else "the start of the log"
            return ChainBreak(
                plan_id,
                row.id,
                f"it does not follow {after}: a row between them was deleted, or rows were "
                "reordered or inserted",
            )
        if previous is not None and previous.content.at - row.content.at > CLOCK_TOLERANCE:
            return ChainBreak(
                plan_id,
                row.id,
                f"it is dated {row.content.at:%Y-%m-%d %H:%M} UTC, before row #{previous.id} "
                f"({previous.content.at:%Y-%m-%d %H:%M} UTC): time runs backwards in the log",
            )
        expected_version = previous.content.plan_version + 1 if previous is not None else 1
        if row.content.plan_version != expected_version:
            return ChainBreak(
                plan_id,
                row.id,
                f"it records version {row.content.plan_version} where {expected_version} was "
                "next: rows are missing or out of order",
            )
        previous = row
    last = previous.content.plan_version if previous is not None else 0
    if plan_version is not None and last != plan_version:
        return ChainBreak(
            plan_id,
            None,
            f"the plan is at version {plan_version} but its log ends at version {last}: "
            "rows at the end are missing",
        )
    return None
