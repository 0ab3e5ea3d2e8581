"""Reminders as an administrator lists and retries them: those of their realm's plans only.

The same use cases as the operator's (`reminders`), narrowed to the plans of the organisations
the actor administers (`admin_realm`); a reminder or plan outside the realm reads as not
existing, with the very answer a reminder or plan that does not exist gets. A retry is audited
with the administrator as its actor.
"""

from __future__ import annotations

from engine.service import reminders
from engine.service.admin_realm import realm_of
from engine.service.reminders import ReminderView, RetryOutcome
from engine.service.runtime import Runtime
from engine.store.reminder_admin import reminder_org


def list_reminders(
    rt: Runtime,
    *,
    actor: str,
    status: str | None = None,
    plan_id: int | None = None,
    limit: int = 200,
) -> list[ReminderView]:
    """The reminders of the realm's plans, by fire time (then id), filtered as
    `reminders.list_reminders` filters them."""
    with rt.database.read() as tx:
        realm = realm_of(tx, actor)
    return reminders.list_reminders(
        rt, status=status, plan_id=plan_id, limit=limit, org_ids=realm.org_ids
    )


def retry_reminder(rt: Runtime, *, actor: str, reminder_id: int) -> RetryOutcome:
    """Retry a reminder of the realm (`reminders.retry_reminder`), audited as the actor's."""
    with rt.database.read() as tx:
        realm = realm_of(tx, actor)
        org_id = reminder_org(tx, reminder_id=reminder_id)
    if org_id is None or org_id not in realm.org_ids:
        raise reminders.no_reminder(reminder_id)
    return reminders.retry_reminder(rt, reminder_id, actor=actor, administered=True)


def retry_dead(rt: Runtime, *, actor: str) -> list[RetryOutcome]:
    """Retry every dead reminder of the realm (`reminders.retry_dead`), audited as the actor's."""
    with rt.database.read() as tx:
        realm = realm_of(tx, actor)
    return reminders.retry_dead(rt, actor=actor, org_ids=realm.org_ids, administered=True)
