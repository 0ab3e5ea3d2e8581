"""`planflow cycle failures`: what the scheduler's cycle could not carry out, for operators."""

from __future__ import annotations

import typer

from engine.cli.context import JsonFlag, runtime
from engine.cli.output import as_json, local, table
from engine.core.i18n import _
from engine.service.cycle_failures import list_failures

app = typer.Typer(
    help="The scheduler's cycle: run it once, or see what it could not do.", no_args_is_help=True
)


@app.command("failures")
def failures(json_: JsonFlag = False) -> None:
    """Timers, escalation levels and hand-overs that keep failing, the longest-stuck first, why.

    Each is tried again by itself after a back-off (a minute, doubling to an hour) and at once
    when its plan changes; fix the cause (grant the role, …) and the next try carries it out.
    """
    rt = runtime()
    views = list_failures(rt)
    if json_:
        as_json(
            [
                {
                    "step": v.step,
                    "plan": v.plan_id,
                    "org": v.org_name,
                    "what": v.what,
                    "error": v.error,
                    "attempts": v.attempts,
                    "first_failed_at": v.first_failed_at,
                    "last_failed_at": v.last_failed_at,
                    "retry_at": v.retry_at,
                }
                for v in views
            ]
        )
        return
    if not views:
        typer.echo(_("nothing is failing"))
        return
    tz = rt.default_timezone
    table(
        [
            _("step"),
            _("plan"),
            _("org"),
            _("what"),
            _("tries"),
            _("since"),
            _("next try"),
            _("error"),
        ],
        [
            (
                v.step,
                v.plan_id,
                v.org_name,
                v.what,
                v.attempts,
                local(v.first_failed_at, tz),
                local(v.retry_at, tz),
                v.error,
            )
            for v in views
        ],
    )
