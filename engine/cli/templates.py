"""`planflow template …`: validate, load, list, show and draw workflow templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.context import JsonFlag, OptionalActingUser, runtime
from engine.cli.output import as_json, table
from engine.core.errors import ActionRefused, InputError, Problem, TemplateError
from engine.core.i18n import _
from engine.core.template.diagram import mermaid
from engine.core.template.validate import load_template as parse_template
from engine.core.yamlsource import read_source
from engine.service import templates
from engine.service.plan_views import show_plan
from engine.service.templates import workflow_for

app = typer.Typer(help="Workflow templates (YAML).", no_args_is_help=True)

Files = Annotated[list[Path], typer.Argument(help="Template files (YAML).", show_default=False)]


def _read(path: Path) -> bytes:
    return read_source(path, error=TemplateError)  # reads no more than the size limit allows


@app.command()
def validate(files: Files) -> None:
    """Check templates and report every problem as FILE:LINE:COLUMN: message."""
    problems: list[Problem] = []
    for path in files:
        try:
            template = parse_template(_read(path), source=str(path))
            typer.echo(f"{path}: ok ({template.name} version {template.version})")
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise TemplateError(problems)


@app.command()
def load(files: Files) -> None:
    """Validate and store templates; a (name, version) can never change once loaded."""
    rt = runtime()
    for path in files:
        loaded = templates.load_template(rt, content=_read(path), source=str(path))
        verb = "loaded" if loaded.created else "already loaded (same content)"
        typer.echo(f"{path}: {verb}: {loaded.record.name} version {loaded.record.version}")


@app.command("list")
def list_(json_: JsonFlag = False) -> None:
    """Loaded templates and their versions."""
    records = templates.list_templates(runtime())
    if json_:
        as_json(
            [
                {
                    "name": r.name,
                    "version": r.version,
                    "title": r.title,
                    "checksum": r.checksum,
                    "loaded_at": r.loaded_at,
                }
                for r in records
            ]
        )
        return
    table(
        [_("name"), _("version"), _("title"), _("checksum")],
        [(r.name, r.version, r.title, r.checksum[:12]) for r in records],
    )


VersionOption = Annotated[int | None, typer.Option(help="Version; the newest if omitted.")]


@app.command()
def show(name: str, version: VersionOption = None) -> None:
    """Print a loaded template's source."""
    typer.echo(templates.get_template(runtime(), name, version).source.rstrip())


@app.command()
def diagram(
    name: str,
    version: VersionOption = None,
    plan: Annotated[
        int | None, typer.Option(help="Highlight this plan's current state (on its template).")
    ] = None,
    actor: OptionalActingUser = None,
) -> None:
    """Print a Mermaid state diagram of a template, optionally with a plan's state highlighted."""
    rt = runtime()
    current = None
    if plan is not None:
        if actor is None:
            raise typer.BadParameter("--plan needs --as USER (or PLANFLOW_USER)", param_hint="--as")
        row = show_plan(rt, plan_id=plan, actor=actor).plan
        if name != row.template_name:
            raise ActionRefused(
                "plan #{plan_id} runs on {template} version {version}, not {name}; "
                "name its template or leave out --plan",
                code="template.not_the_plans",
                plan_id=plan,
                template=row.template_name,
                version=row.template_version,
                name=name,
            )
        if version not in (None, row.template_version):
            raise ActionRefused(
                "plan #{plan_id} runs on {template} version {version}, not version {asked}",
                code="template.not_the_plans",
                plan_id=plan,
                template=row.template_name,
                version=row.template_version,
                asked=version,
            )
        version, current = row.template_version, row.state
    workflow = workflow_for(rt, templates.get_template(rt, name, version))
    typer.echo(mermaid(workflow.template, current_state=current))
