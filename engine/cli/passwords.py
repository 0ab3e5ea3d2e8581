"""How the CLI takes a new password: from standard input with `--password-stdin` (scripts,
`echo … |`), else asked twice at a terminal without echoing it; never from an argument, which
`ps` and the shell's history would show."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from engine.core.errors import ActionRefused
from engine.core.i18n import N_, _
from engine.service.passwords import check_new_password

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line) instead of asking for it.",
    ),
]
NO_TERMINAL = N_(
    "no terminal to ask for the password: pass --password-stdin and give it on standard input"
)
EMPTY = N_("no password on standard input")
DIFFERENT = N_("the two passwords differ; nothing was changed")


def read_new_password(*, from_stdin: bool) -> str:
    """The new password, checked (length) before anything is written."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise ActionRefused(EMPTY, code="password.missing", field="password")
    else:
        if not sys.stdin.isatty():
            raise ActionRefused(NO_TERMINAL, code="password.no_terminal", field="password")
        password = getpass.getpass(_("New password: "))
        check_new_password(password)
        if getpass.getpass(_("Repeat the new password: ")) != password:
            raise ActionRefused(DIFFERENT, code="password.differ", field="password")
    check_new_password(password)
    return password
