"""`planflow audit …`: operators check that nobody changed the audit log behind the engine."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.context import JsonFlag, runtime
from engine.cli.output import as_json
from engine.service.audit import verify_audit

app = typer.Typer(help="The audit log: verify its hash chains.", no_args_is_help=True)


@app.command("verify")
def verify(
    plan: Annotated[int | None, typer.Option(help="Only this plan's log.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Check every plan's audit chain and the append-only triggers; exit 1 on any finding."""
    result = verify_audit(runtime(), plan_id=plan)
    if json_:
        as_json(
            {
                "ok": result.ok,
                "plans": result.plans,
                "rows": result.rows,
                "missing_triggers": list(result.missing_guards),
                "breaks": [
                    {"plan": b.plan_id, "row": b.row_id, "problem": b.problem}
                    for b in result.breaks
                ],
                "heads": {str(plan): head for plan, head in result.heads.items()},
            }
        )
    else:
        if result.missing_guards:
            typer.echo(
                "the append-only triggers are missing or disabled, so audit rows could be "
                f"changed or deleted: {', '.join(result.missing_guards)}"
            )
        for found in result.breaks:
            typer.echo(f"broken: {found}")
        verdict = "intact" if result.ok else "NOT intact"
        typer.echo(f"audit log {verdict}: {result.plans} plans, {result.rows} rows checked")
    if not result.ok:
        raise typer.Exit(code=1)
