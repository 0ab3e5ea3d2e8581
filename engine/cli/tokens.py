"""`planflow user token …`: API bearer tokens, made for a user by the operator. A new token is
printed once, on its own line (then only its prefix is ever shown again)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from engine.cli.context import JsonFlag, runtime
from engine.cli.output import as_json, local, table
from engine.core.i18n import N_, _
from engine.service import api_tokens
from engine.store.api_tokens import TokenRecord

app = typer.Typer(help="API tokens (Authorization: Bearer …) of a user.", no_args_is_help=True)


STATES = {"active": N_("active"), "expired": N_("expired"), "revoked": N_("revoked")}


def _state(token: TokenRecord, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if now >= token.expires_at else "active"


def _as_dict(token: TokenRecord, state: str) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "state": state,
    }


@app.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. reports.")],
    days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days until it expires [default: PLANFLOW_TOKEN_DAYS]."),
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Make a token for USERNAME; it is printed this once and never again."""
    rt = runtime()
    made = api_tokens.create_token(rt, username=username, name=name, days=days)
    if json_:
        as_json({**_as_dict(made.record, "active"), "token": made.token})
        return
    expires = local(made.record.expires_at, rt.default_timezone)
    typer.echo(
        _(
            "token #{id} ({name}) for {username}, valid until {expires}; it is shown only now:",
            id=made.record.id,
            name=name,
            username=username,
            expires=expires,
        ),
        err=True,
    )
    typer.echo(made.token)


@app.command("list")
def token_list(username: str, json_: JsonFlag = False) -> None:
    """USERNAME's tokens, revoked and expired ones too (only their prefixes)."""
    rt = runtime()
    now = rt.now()
    tokens = api_tokens.list_tokens(rt, username=username)
    if json_:
        as_json([_as_dict(token, _state(token, now)) for token in tokens])
        return
    tz = rt.default_timezone
    rows = [
        (
            str(token.id),
            token.name,
            token.prefix + "…",
            local(token.created_at, tz),
            local(token.expires_at, tz),
            local(token.last_used_at, tz),
            _(STATES[_state(token, now)]),
        )
        for token in tokens
    ]
    headers = [_("id"), _("name"), _("token"), _("created"), _("expires"), _("last used")]
    table([*headers, _("state")], rows)


@app.command("revoke")
def token_revoke(username: str, token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke USERNAME's token ID: requests with it are refused from now on."""
    api_tokens.revoke_token(runtime(), username=username, token_id=token_id)
    typer.echo(_("token #{id} of {username} revoked", id=token_id, username=username))
