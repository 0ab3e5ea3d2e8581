"""`planflow reminders …`: operators list reminders and retry those that did not go out."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.context import JsonFlag, OptionalActingUser, runtime
from engine.cli.output import as_json, local, table
from engine.core.i18n import _
from engine.service import reminders
from engine.service.publishing import publishing_backlog
from engine.service.reminders import RetryOutcome
from engine.store.statuses import ReminderStatus

app = typer.Typer(help="Reminders and their deliveries: list, retry.", no_args_is_help=True)

ERROR_WIDTH = 40  # the table shows the start of an error; --json has all of it


def _short(text: str | None) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help=f"Only reminders in this status ({', '.join(ReminderStatus)})."),
    ] = None,
    plan: Annotated[int | None, typer.Option(help="Only this plan's reminders.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    json_: JsonFlag = False,
) -> None:
    """Reminders by fire time, what each is about, and why those that did not go out did not."""
    rt = runtime()
    views = reminders.list_reminders(rt, status=status, plan_id=plan, limit=limit)
    backlog = publishing_backlog(rt)
    if backlog is not None and backlog.stalled:  # on stderr, so that --json stays JSON
        typer.echo(f"warning: {backlog.describe(rt.default_timezone)}", err=True)
    if json_:
        as_json(
            [
                {
                    "id": v.id,
                    "plan": v.plan_id,
                    "org": v.org_name,
                    "kind": v.kind,
                    "about": v.about,
                    "item": (
                        {"id": v.item.id, "month": v.item.month, "title": v.item.title}
                        if v.item
                        else None
                    ),
                    "task": (
                        {"id": v.task.id, "state": v.task.state, "role": v.task.role}
                        if v.task
                        else None
                    ),
                    "role": v.recipient_role,
                    "fire_at": v.fire_at,
                    "status": v.status,
                    "attempts": v.attempts,
                    "last_error": v.last_error,
                    "deliveries": [
                        {
                            "id": d.id,
                            "channel": d.channel,
                            "recipient": d.recipient,
                            "status": d.status,
                            "attempts": d.attempts,
                            "next_attempt_at": d.next_attempt_at,
                            "last_error": d.last_error,
                            "sent_at": d.sent_at,
                        }
                        for d in v.deliveries
                    ],
                }
                for v in views
            ]
        )
        return
    tz = rt.default_timezone
    table(
        [
            _("id"),
            _("plan"),
            _("org"),
            _("kind"),
            _("about"),
            _("role"),
            _("fires"),
            _("status"),
            _("retries"),
            _("last error"),
        ],
        [
            (
                v.id,
                v.plan_id,
                v.org_name,
                v.kind,
                v.about,
                v.recipient_role,
                local(v.fire_at, tz),
                v.status,
                v.attempts,
                # A dead reminder's own error only says "see its deliveries": show theirs.
                _short(next((d.last_error for d in v.deliveries if d.last_error), v.last_error)),
            )
            for v in views
        ],
    )


def _said(outcome: RetryOutcome) -> str:
    head = f"reminder #{outcome.reminder_id} (plan #{outcome.plan_id})"
    if outcome.error is not None:
        return f"{head}: not retried: {outcome.error}"
    if outcome.deliveries == 1:
        again = "its failed delivery goes out again"
    elif outcome.deliveries:
        again = f"its {outcome.deliveries} failed deliveries go out again"
    else:
        again = "planned again"
    return f"{head}: {outcome.from_status} → {outcome.to_status}, {again} at the next sweep"


@app.command("retry")
def retry(
    reminder: Annotated[int | None, typer.Argument(help="Reminder id, as `list` shows it.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead reminder.")] = False,
    actor: OptionalActingUser = None,
) -> None:
    """Send a dead, failed or missed reminder again (give its id), or every dead one (--dead)."""
    if (reminder is None) == (not dead):
        raise typer.BadParameter(
            "give exactly one of a reminder id and --dead", param_hint="ID|--dead"
        )
    rt = runtime()
    if reminder is not None:
        typer.echo(_said(reminders.retry_reminder(rt, reminder, actor=actor)))
        return
    outcomes = reminders.retry_dead(rt, actor=actor)
    for outcome in outcomes:
        typer.echo(_said(outcome))
    retried = sum(1 for o in outcomes if o.error is None)
    typer.echo(f"{retried} of {len(outcomes)} dead reminders retried")
