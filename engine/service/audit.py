"""Checking the audit log: the database's append-only guard is in place and every chain holds.

An operator's tool (`planflow audit verify`), like `reminders list`: it reads every plan's
audit rows in id order and checks each plan's hash chain (`engine/core/audit_chain.py`) against
the plan's version, and that the triggers refusing UPDATE and DELETE still exist
(`engine/store/audit_guard.py`): whoever wants to change a row unnoticed must first drop them,
so a missing trigger is itself a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from engine.core.audit_chain import AuditContent, ChainBreak, ChainedRow, first_break
from engine.core.errors import NotFound
from engine.service.runtime import Runtime
from engine.store.audit_guard import guards_missing
from engine.store.tables import AuditEvent, Plan


@dataclass(frozen=True)
class AuditVerification:
    plans: int  # plans checked
    rows: int  # audit rows checked
    breaks: tuple[ChainBreak, ...]  # the first broken link of each plan whose chain is broken
    missing_guards: tuple[str, ...]  # append-only triggers that are not installed
    # Each plan's newest row hash: kept outside the database, it anchors the chain against a
    # rewrite from some row onward, which the chain alone cannot show.
    heads: dict[int, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaks and not self.missing_guards


def verify_audit(rt: Runtime, *, plan_id: int | None = None) -> AuditVerification:
    """Check the append-only guard and the chains of every plan (or of `plan_id`)."""
    with rt.database.session() as session:
        query = select(Plan.id, Plan.version).order_by(col(Plan.id))
        if plan_id is not None:
            query = query.where(Plan.id == plan_id)
        versions = {pid: version for pid, version in session.exec(query) if pid is not None}
        if plan_id is not None and not versions:
            raise NotFound(f"no plan #{plan_id}")
        missing = guards_missing(session.connection())
        chains = _chains(session, plan_id)
        breaks: list[ChainBreak] = []
        heads: dict[int, str | None] = {}
        rows = 0
        for pid, version in versions.items():
            chain = chains.get(pid, [])
            rows += len(chain)
            heads[pid] = chain[-1].row_hash if chain else None
            found = first_break(pid, chain, plan_version=version)
            if found is not None:
                breaks.append(found)
    return AuditVerification(
        plans=len(versions),
        rows=rows,
        breaks=tuple(breaks),
        missing_guards=tuple(missing),
        heads=heads,
    )


def _chains(session: Session, plan_id: int | None) -> dict[int, list[ChainedRow]]:
    """Each plan's audit rows in id order, as the chain check reads them."""
    query = select(AuditEvent).order_by(col(AuditEvent.plan_id), col(AuditEvent.id))
    if plan_id is not None:
        query = query.where(AuditEvent.plan_id == plan_id)
    chains: dict[int, list[ChainedRow]] = {}
    for event in session.exec(query):
        assert event.id is not None
        chains.setdefault(event.plan_id, []).append(
            ChainedRow(
                id=event.id,
                content=AuditContent(
                    plan_id=event.plan_id,
                    plan_version=event.plan_version,
                    actor_id=event.actor_id,
                    at=event.at,
                    action=event.action,
                    from_state=event.from_state,
                    to_state=event.to_state,
                    comment=event.comment,
                    idempotency_key=event.idempotency_key,
                    request_hash=event.request_hash,
                    detail=event.detail,
                ),
                prev_hash=event.prev_hash,
                row_hash=event.row_hash,
            )
        )
    return chains
