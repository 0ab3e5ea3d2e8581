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
from engine.core.errors import ConfigurationError, SettingsError, first_line
from engine.core.i18n import Message, set_language
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
    problems: list[str | Message] = [*_unknown_variables()]
    try:
        configured = get_settings()
    except ValidationError as error:
        problems += describe_invalid(error)
    if problems:
        raise SettingsError(problems)
    set_language(configured.lang)
    return configured


# Read by the CLI itself (`--as`) and by the test suite, not by `Settings`.
_OTHER_VARIABLES = {"PLANFLOW_USER"}
_OTHER_PREFIXES = ("PLANFLOW_TEST_",)


def _unknown_variables() -> list[Message]:
    known = {f"PLANFLOW_{name.upper()}" for name in Settings.model_fields} | _OTHER_VARIABLES
    return [
        Message.of(
            "{variable} is not a Planflow setting{hint}",
            variable=name,
            hint=did_you_mean(name.upper(), known),
        )
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
            raise _unreachable(rt.database.engine.url, error) from None
        if current != head_revision():
            raise ConfigurationError(
                "the database {database} is not initialised or is older than "
                "this Planflow; run `planflow init`",
                code="database.not_initialised",
                database=repr(rt.database.engine.url),
            )
        refuse_going_back(rt)
    return rt


def _refuse_missing_sqlite_file(url: URL) -> None:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() != "sqlite" or in_memory or url.query.get("uri"):
        return
    path = Path(url.database or "")
    if not path.exists():
        raise ConfigurationError(
            "no database at {path}; run `planflow init` to create it",
            code="database.missing",
            path=str(path),
        )


def _unreachable(url: URL, error: OperationalError) -> ConfigurationError:
    # A connection refused for a missing database carries no SQLSTATE (3D000) in psycopg, only
    # the server's message.
    missing = getattr(error.orig, "sqlstate", None) == "3D000" or (
        f'database "{url.database}" does not exist' in str(error.orig)
    )
    if missing:
        return ConfigurationError(
            "the database {name} does not exist on {host}:{port}; "
            "create it (createdb {database}), then run `planflow init`",
            code="database.missing",
            name=repr(url.database),
            database=url.database,
            host=url.host,
            port=url.port or 5432,
        )
    return ConfigurationError(
        "cannot reach the database {database}: {reason}",
        code="database.unreachable",
        database=repr(url),
        reason=first_line(error.orig),
    )
