"""`eenloket keys`: API keys for ingest's integrations (services/ingest/auth.py checks them)."""

from __future__ import annotations

import json
import secrets
import sys
from typing import Annotated

import typer

from services.ingest.auth import authserv_id, hash_key
from shared.contracts import Channel

keys_app = typer.Typer(no_args_is_help=True, help="API keys for ingest integrations.")


@keys_app.command("new")
def keys_new(
    name: str,
    channel: Annotated[list[Channel], typer.Option(help="a channel the key may post to")],
    may_assert_login: Annotated[bool, typer.Option(help="may assert DigiD/eHerkenning")] = False,
    may_assert_caller_id: Annotated[
        bool, typer.Option(help="may mark a caller's number as network-verified")
    ] = False,
    trusted_authserv_id: Annotated[
        list[str] | None,
        typer.Option(help="a mail gateway's authserv-id whose Authentication-Results count"),
    ] = None,
) -> None:
    """Print a new random key (give it to the integration) and its EENLOKET_API_KEYS entry.

    Example: eenloket keys new portal --channel web --may-assert-login
    """
    key = secrets.token_urlsafe(32)
    settings: dict[str, object] = {
        "sha256": hash_key(key),
        "channels": sorted(c.value for c in channel),
        "may_assert_login": may_assert_login,
    }
    if may_assert_caller_id:
        settings["may_assert_caller_id"] = True
    if trusted_authserv_id:
        try:
            ids = sorted({authserv_id(i) for i in trusted_authserv_id})
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        settings["trusted_authserv_ids"] = ids
    entry = {name: settings}
    typer.echo(f"key (shown once): {key}")
    typer.echo(f"EENLOKET_API_KEYS entry: {json.dumps(entry)}")


@keys_app.command("hash")
def keys_hash() -> None:
    """Hash a key read from standard input (so it never appears in shell history).

    Example: eenloket keys hash < key.txt
    """
    key = sys.stdin.readline().strip()
    if not key:
        raise typer.BadParameter("no key on standard input")
    typer.echo(hash_key(key))
