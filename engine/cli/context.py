"""How CLI commands get their settings, their runtime and their acting user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from config.settings import Settings, describe_invalid, get_settings
from engine.core.errors import ConfigurationError, first_line
from engine.core.yamlschema import did_you_mean
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


def settings() -> Settings:
    """The deployment's settings; bad ones are one line each, naming variable, value and form.

    A `PLANFLOW_*` variable that is no setting (a misspelling) is refused too: pydantic-settings
    would ignore it, and the deployment would run on the default it meant to change.
    """
    problems = _unknown_variables()
    try:
        configured = get_settings()
    except ValidationError as error:
        problems += describe_invalid(error)
    if problems:
        raise ConfigurationError("\n".join(problems))
    return configured


# Read by the CLI itself (`--as`) and by the test suite, not by `Settings`.
_OTHER_VARIABLES = {"PLANFLOW_USER"}
_OTHER_PREFIXES = ("PLANFLOW_TEST_",)


def _unknown_variables() -> list[str]:
    known = {f"PLANFLOW_{name.upper()}" for name in Settings.model_fields} | _OTHER_VARIABLES
    return [
        f"{name} is not a Planflow setting{did_you_mean(name.upper(), known)}"
        for name in sorted(os.environ)
        if name.upper().startswith("PLANFLOW_")
        and name.upper() not in known
        and not name.upper().startswith(_OTHER_PREFIXES)
    ]


def runtime(*, require_schema: bool = True, creating: bool = False) -> Runtime:
    """The runtime for the configured database, refusing one that `planflow init` has not set up.

    A SQLite file that does not exist is refused before anything connects, since connecting
    would create it empty; only `planflow init` (`creating`) may.
    """
    configured = settings()
    if not creating:
        _refuse_missing_sqlite_file(make_url(configured.database_url))
    pretended = rehearsal_clock(configured)
    rt = (
        open_runtime(configured) if pretended is None else open_runtime(configured, clock=pretended)
    )
    if require_schema:
        try:
            current = current_revision(rt.database)
        except OperationalError as error:
            raise ConfigurationError(_unreachable(rt.database.engine.url, error)) from None
        if current != head_revision():
            raise ConfigurationError(
                f"the database {rt.database.engine.url!r} is not initialised or is older than "
                "this Planflow; run `planflow init`"
            )
        refuse_going_back(rt)
    return rt


def _refuse_missing_sqlite_file(url: URL) -> None:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() != "sqlite" or in_memory or url.query.get("uri"):
        return
    path = Path(url.database or "")
    if not path.exists():
        raise ConfigurationError(f"no database at {path}; run `planflow init` to create it")


def _unreachable(url: URL, error: OperationalError) -> str:
    # A connection refused for a missing database carries no SQLSTATE (3D000) in psycopg, only
    # the server's message.
    missing = getattr(error.orig, "sqlstate", None) == "3D000" or (
        f'database "{url.database}" does not exist' in str(error.orig)
    )
    if missing:
        return (
            f"the database {url.database!r} does not exist on {url.host}:{url.port or 5432}; "
            f"create it (createdb {url.database}), then run `planflow init`"
        )
    return f"cannot reach the database {url!r}: {first_line(error.orig)}"
