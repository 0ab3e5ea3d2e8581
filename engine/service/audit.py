"""Checking the audit log: the database's append-only guard is in place and every chain holds.

An operator's tool (`planflow audit verify`), like `reminders list`: it reads every plan's
audit rows in id order and checks each plan's hash chain (`engine/core/audit_chain.py`) against
the plan's version, and that the triggers refusing UPDATE and DELETE still exist
(`engine/store/audit_guard.py`): whoever wants to change a row unnoticed must first drop them,
so a missing trigger is itself a finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.audit_chain import ChainBreak, first_break
from engine.core.errors import NotFound
from engine.service.runtime import Runtime
from engine.store.audit import audit_chains, missing_audit_guards, plan_versions


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
    with rt.database.read() as tx:
        versions = plan_versions(tx, plan_id=plan_id)
        if plan_id is not None and not versions:
            raise NotFound("no plan #{plan_id}", code="plan.not_found", plan_id=plan_id)
        missing = missing_audit_guards(tx)
        chains = audit_chains(tx, plan_id=plan_id)
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
