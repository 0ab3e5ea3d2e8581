"""The `planflow` command: wiring of the sub-commands and the one place errors become exit codes.

Exit codes: 0 success, 1 a user error (one message on stderr, in the language of
`PLANFLOW_LANG`, never a traceback), 2 a usage error (Click's own).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer
from sqlalchemy.exc import OperationalError

from engine.cli import audit, cycle, directory, plans, processes, reminders, simulate, templates
from engine.cli.context import runtime
from engine.core.errors import PlanflowError, first_line
from engine.core.i18n import N_, _, language_named, set_language
from engine.store.database import is_lock_timeout
from engine.store.migrate import upgrade

# PLANFLOW_LOCK_TIMEOUT_SECONDS ran out on a write that is not a plan's (a directory change, a
# plan being created): nothing was written.
DATABASE_BUSY = N_("the database is busy with another change; try again")

app = typer.Typer(
    help="Planflow: workflow and approval engine for annual work plans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain Click help: Typer's rich panels print a value type for flags too (`--json <bool>`),
    # as if a flag took a value; the plain layout shows a type only for options that take one.
    rich_markup_mode=None,
)
app.add_typer(templates.app, name="template")
app.add_typer(directory.orgs, name="org")
app.add_typer(directory.users, name="user")
app.add_typer(plans.app, name="plan")
app.add_typer(plans.reports, name="report")
app.command("act")(plans.act)
app.command("inbox")(plans.inbox)
app.command("serve")(processes.serve)
app.command("worker")(processes.worker)
app.command("scheduler")(processes.scheduler)
app.add_typer(reminders.app, name="reminders")
app.add_typer(cycle.app, name="cycle")
cycle.app.command("run")(processes.run_once)
app.command("simulate")(simulate.simulate)
app.add_typer(audit.app, name="audit")


@app.command()
def init() -> None:
    """Create the database, or upgrade it to this version's schema; safe to run again."""
    rt = runtime(require_schema=False, creating=True)
    upgrade(rt.database)
    typer.echo(f"database ready: {rt.database.engine.url.render_as_string(hide_password=True)}")


@app.command()
def demo() -> None:
    """Run a whole year of plans on a temporary database with a simulated clock."""
    from engine.cli.demo import run_demo

    run_demo(echo=typer.echo)


def exit_code(error: PlanflowError) -> int:
    """The exit code of a user error: 1 for every one (scripts that must tell cases apart read
    the error's code from the service, not the shell); 2 stays Click's usage error."""
    return 1


def _fail(message: str) -> None:
    typer.echo(_("error: {message}", message=message), err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors become one line on stderr."""
    # The language before the settings are read (help, usage errors); `settings()` sets it again
    # from the settings, and refuses a language Planflow does not speak.
    set_language(language_named(os.environ.get("PLANFLOW_LANG")))
    try:
        app(args=list(argv) if argv is not None else None, prog_name="planflow")
    except SystemExit as finished:  # Click ends every run, even a successful one, this way
        return finished.code if isinstance(finished.code, int) else 1
    except PlanflowError as error:
        _fail(error.message)
        return exit_code(error)
    except OperationalError as error:
        if is_lock_timeout(error):  # a write outside a plan's (those answer PlanBusy) waited out
            _fail(_(DATABASE_BUSY))
        else:
            _fail(_("the database failed: {reason}", reason=first_line(error.orig)))
        return 1
    return 0


def run() -> None:
    sys.exit(main())
