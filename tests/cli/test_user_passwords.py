"""`planflow user create --password-stdin`, `user passwd` and `user token …`: passwords never on
the command line, a token printed once, revoking and deactivating that take effect at once."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from engine.core.clock import SimulatedClock
from engine.core.errors import Conflict, NotAuthenticated
from engine.service.api_tokens import token_caller
from engine.service.runtime import Runtime
from engine.service.web_sessions import log_in, session_caller
from tests.cli.conftest import Cli
from tests.conftest import make_runtime
from tests.world import setup_world

PASSWORD = "a-good-long-password"


@pytest.fixture
def cli_database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def world(cli_database_url: str, clock: SimulatedClock) -> Iterator[Runtime]:
    rt = make_runtime(cli_database_url, clock)
    setup_world(rt)
    yield rt
    rt.database.dispose()


def stdin(monkeypatch: pytest.MonkeyPatch, text: str, *, tty: bool = False) -> None:
    fake = io.StringIO(text)
    monkeypatch.setattr(fake, "isatty", lambda: tty)
    monkeypatch.setattr("sys.stdin", fake)


def can_log_in(rt: Runtime, username: str, password: str) -> bool:
    try:
        log_in(rt, username=username, password=password, address="192.0.2.1")
    except NotAuthenticated:
        return False
    return True


def test_create_with_a_password_from_stdin(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    made = cli(
        "user", "create", "ma-new", "--name", "马新", "--org", "zishan-town", "--password-stdin"
    )
    assert made.code == 0, made.err
    assert PASSWORD not in made.out + made.err
    assert can_log_in(world, "ma-new", PASSWORD)
    assert not can_log_in(world, "ma-new", PASSWORD + "x")


def test_a_short_password_creates_nobody(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, "short\n")
    made = cli(
        "user", "create", "ma-new", "--name", "马新", "--org", "zishan-town", "--password-stdin"
    )
    assert made.code == 1
    assert "at least 8 characters" in made.err
    assert "ma-new" not in cli("user", "list").out


def test_passwd_from_stdin_ends_the_sessions(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert cli("user", "passwd", "chen-school", "--password-stdin").code == 0
    started = log_in(world, username="chen-school", password=PASSWORD, address="192.0.2.1")
    assert session_caller(world, key=started.key) is not None
    stdin(monkeypatch, "another-long-password\r\n")
    changed = cli("user", "passwd", "chen-school", "--password-stdin")
    assert changed.code == 0, changed.err
    assert "chen-school" in changed.out
    assert session_caller(world, key=started.key) is None
    assert not can_log_in(world, "chen-school", PASSWORD)
    assert can_log_in(world, "chen-school", "another-long-password")


def test_passwd_asks_twice_at_a_terminal(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "typo-" + PASSWORD])

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    stdin(monkeypatch, "", tty=True)
    monkeypatch.setattr("getpass.getpass", getpass)
    assert cli("user", "passwd", "chen-school").code == 0
    assert len(asked) == 2
    assert can_log_in(world, "chen-school", PASSWORD)
    refused = cli("user", "passwd", "liu-factory")
    assert refused.code == 1
    assert "the two passwords differ" in refused.err
    assert not can_log_in(world, "liu-factory", PASSWORD)


def test_passwd_without_a_terminal_needs_the_flag(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    refused = cli("user", "passwd", "chen-school")
    assert refused.code == 1
    assert "--password-stdin" in refused.err
    stdin(monkeypatch, "")
    assert (
        "no password on standard input"
        in cli("user", "passwd", "chen-school", "--password-stdin").err
    )


def test_passwd_of_nobody(cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    refused = cli("user", "passwd", "nobody-here", "--password-stdin")
    assert refused.code == 1 and "nobody-here" in refused.err


def test_a_token_is_printed_once_and_works_until_revoked(cli: Cli, world: Runtime) -> None:
    made = cli("user", "token", "create", "zhao-zishan", "--name", "reports", "--days", "30")
    assert made.code == 0, made.err
    token = made.out.strip()
    assert token.startswith("pf_") and "\n" not in token
    assert "valid until" in made.err
    caller = token_caller(world, token=token)
    assert caller is not None and caller.username == "zhao-zishan"

    listed = json.loads(cli("user", "token", "list", "zhao-zishan", "--json").out)
    assert [(t["name"], t["state"]) for t in listed] == [("reports", "active")]
    assert token.startswith(listed[0]["prefix"]) and token not in json.dumps(listed)
    table = cli("user", "token", "list", "zhao-zishan").out
    assert "reports" in table and token not in table

    revoked = cli("user", "token", "revoke", "zhao-zishan", listed[0]["id"])
    assert revoked.code == 0, revoked.err
    assert token_caller(world, token=token) is None
    assert (
        json.loads(cli("user", "token", "list", "zhao-zishan", "--json").out)[0]["state"]
        == "revoked"
    )
    again = cli("user", "token", "revoke", "zhao-zishan", listed[0]["id"])
    assert again.code == 1 and "revoked already" in again.err


def test_token_create_as_json(cli: Cli, world: Runtime) -> None:
    made = cli("user", "token", "create", "chen-school", "--name", "sync", "--json")
    data = json.loads(made.out)
    assert data["token"].startswith(data["prefix"]) and data["state"] == "active"
    assert token_caller(world, token=data["token"]) is not None


def test_one_users_token_cannot_be_revoked_as_anothers(cli: Cli, world: Runtime) -> None:
    made = json.loads(cli("user", "token", "create", "chen-school", "--name", "x", "--json").out)
    refused = cli("user", "token", "revoke", "liu-factory", made["id"])
    assert refused.code == 1 and "liu-factory has no token" in refused.err
    assert token_caller(world, token=made["token"]) is not None


def test_a_token_needs_a_name(cli: Cli, world: Runtime) -> None:
    refused = cli("user", "token", "create", "chen-school", "--name", "  ")
    assert refused.code == 1 and "needs a name" in refused.err


def test_deactivating_ends_sessions_and_revokes_tokens(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    cli("user", "passwd", "liu-factory", "--password-stdin")
    started = log_in(world, username="liu-factory", password=PASSWORD, address="192.0.2.1")
    token = cli("user", "token", "create", "liu-factory", "--name", "x").out.strip()
    assert cli("user", "deactivate", "liu-factory").code == 0
    assert session_caller(world, key=started.key) is None
    assert token_caller(world, token=token) is None
    listed = json.loads(cli("user", "token", "list", "liu-factory", "--json").out)
    assert [t["state"] for t in listed] == ["revoked"]


def test_create_with_a_password_is_one_transaction(
    cli: Cli, world: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user and their password hash are written together: if storing the hash fails, no
    user without a password is left behind."""

    def failing(*_: object, **__: object) -> None:
        raise Conflict("the disk is full", code="tests.disk_full")

    monkeypatch.setattr("engine.store.people.set_password_hash", failing)
    monkeypatch.setattr("engine.service.passwords.set_password_hash", failing)
    stdin(monkeypatch, PASSWORD + "\n")
    made = cli(
        "user", "create", "ma-new", "--name", "马新", "--org", "zishan-town", "--password-stdin"
    )
    assert made.code == 1
    assert "the disk is full" in made.err
    assert "ma-new" not in cli("user", "list").out
