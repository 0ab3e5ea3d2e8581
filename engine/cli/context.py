"""How CLI commands get their runtime and their acting user."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from config.settings import get_settings
from engine.core.errors import ConfigurationError, first_line
from engine.service.rehearsal import refuse_going_back, rehearsal_clock
from engine.service.runtime import Runtime, open_runtime
from engine.store.migrate import current_revision, head_revision

ActingUser = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="PLANFLOW_USER",
        help="Username to act as (or set PLANFLOW_USER).",
        show_default=False,
    ),
]
OptionalActingUser = Annotated[
    str | None,
    typer.Option(
        "--as", envvar="PLANFLOW_USER", help="Username (or set PLANFLOW_USER).", show_default=False
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def runtime(*, require_schema: bool = True) -> Runtime:
    """The runtime for the configured database, refusing one that `planflow init` has not set up."""
    settings = get_settings()
    pretended = rehearsal_clock(settings)
    rt = open_runtime(settings) if pretended is None else open_runtime(settings, clock=pretended)
    if require_schema:
        try:
            current = current_revision(rt.database)
        except OperationalError as error:
            raise ConfigurationError(
                f"cannot reach the database {rt.database.engine.url!r}: {first_line(error.orig)}"
            ) from None
        if current != head_revision():
            raise ConfigurationError(
                f"the database {rt.database.engine.url!r} is not initialised or is older than "
                "this Planflow; run `planflow init`"
            )
        refuse_going_back(rt)
    return rt
