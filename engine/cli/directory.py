"""`planflow org …` and `planflow user …`: the organisation tree, who holds which role, and
their passwords (`planflow user token …`: their API tokens)."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli import tokens
from engine.cli.context import JsonFlag, runtime
from engine.cli.output import as_json, table
from engine.cli.passwords import PasswordStdin, read_new_password
from engine.core.i18n import _
from engine.service import directory, leaving, passwords
from engine.service.writes import WriteResult

orgs = typer.Typer(help="Organisations (county → township → grassroots).", no_args_is_help=True)
users = typer.Typer(help="Users, their roles, passwords and API tokens.", no_args_is_help=True)
users.add_typer(tokens.app, name="token")


@orgs.command("create")
def org_create(
    code: Annotated[str, typer.Argument(help="Short code, e.g. zishan-town.")],
    name: Annotated[str, typer.Argument(help="Full name, e.g. 梓山镇工会.")],
    parent: Annotated[str | None, typer.Option(help="Code of the organisation above.")] = None,
) -> None:
    """Add an organisation under its parent."""
    org = directory.create_org(runtime(), code=code, name=name, parent=parent)
    typer.echo(_("organisation {code} ({name}) created", code=org.code, name=org.name))


@orgs.command("list")
def org_list(json_: JsonFlag = False) -> None:
    """All organisations, with their parents."""
    records = directory.list_orgs(runtime())
    codes: dict[int | None, str] = {o.id: o.code for o in records}
    rows = [(o.code, o.name, codes.get(o.parent_id, "")) for o in records]
    if json_:
        as_json([{"code": c, "name": n, "parent": p or None} for c, n, p in rows])
    else:
        table([_("code"), _("name"), _("parent")], rows)


@users.command("create")
def user_create(
    username: str,
    name: Annotated[str, typer.Option(help="Full name, e.g. 张伟.")],
    org: Annotated[str, typer.Option(help="Code of the user's organisation.")],
    role: Annotated[list[str] | None, typer.Option(help="A role to grant; repeatable.")] = None,
    email: Annotated[str | None, typer.Option(help="Address for email reminders.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user at an organisation, optionally with roles and (from standard input) a
    password; without one they cannot log in until `planflow user passwd` gives them one."""
    password = read_new_password(from_stdin=True) if password_stdin else None
    hashed = passwords.hash_password(password) if password is not None else None
    user = directory.create_user(
        runtime(),
        username=username,
        name=name,
        org=org,
        roles=role or [],
        email=email,
        password_hash=hashed,
    )
    typer.echo(_("user {username} ({name}) created", username=user.username, name=user.name))


@users.command("passwd")
def user_passwd(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set USERNAME's password (asked twice at a terminal, or one line of standard input); it
    logs them out everywhere."""
    password = read_new_password(from_stdin=password_stdin)
    passwords.set_password(runtime(), username=username, password=password)
    typer.echo(_("password of {username} set; their sessions are ended", username=username))


@users.command("grant")
def user_grant(username: str, role: str) -> None:
    """Grant a role a loaded template defines; its scope counts from the user's organisation."""
    directory.grant_role(runtime(), username=username, role=role)
    typer.echo(_("{username} now holds {role}", username=username, role=role))


@users.command("revoke")
def user_revoke(username: str, role: str) -> None:
    """Take a role away; their open tasks for it move on without them, or it is refused."""
    handed_over = leaving.revoke_role(runtime(), username=username, role=role)
    typer.echo(_("{username} no longer holds {role}", username=username, role=role))
    _echo_handed_over(handed_over)


@users.command("deactivate")
def user_deactivate(username: str) -> None:
    """Deactivate a user: they can no longer act or log in (their sessions end, their API tokens
    are revoked), and their open tasks move on without them."""
    handed_over = leaving.deactivate_user(runtime(), username=username)
    typer.echo(_("{username} deactivated", username=username))
    _echo_handed_over(handed_over)


def _echo_handed_over(results: list[WriteResult]) -> None:
    for result in results:
        detail = result.detail or {}
        if result.action == leaving.REASSIGN_ACTION and "org" in detail:
            what = f"task moved to {', '.join(detail['holders'])} at {detail['org']}"
        elif result.action == leaving.REASSIGN_ACTION:
            what = f"signers left: {', '.join(detail['signers']) or 'none'}"
        else:
            what = f"{result.from_state} → {result.to_state}: every signer left had approved"
        typer.echo(f"plan #{result.plan_id}: {result.action}: {what}")


@users.command("list")
def user_list(json_: JsonFlag = False) -> None:
    """All users with their organisation and roles."""
    rows = [
        (
            u.username,
            u.name,
            o.code,
            ",".join(roles),
            u.email or "",
            _("yes") if u.active else _("no"),
        )
        for u, o, roles in directory.list_users(runtime())
    ]
    if json_:
        as_json(
            [
                {
                    "username": a,
                    "name": b,
                    "org": c,
                    "roles": d.split(",") if d else [],
                    "email": e or None,
                    "active": f == _("yes"),
                }
                for a, b, c, d, e, f in rows
            ]
        )
    else:
        table([_("username"), _("name"), _("org"), _("roles"), _("email"), _("active")], rows)
