"""Which integration is calling: API keys per source system, stored only as hashes.

Every integration (the portal, the mail gateway, the app backend, the chat
platform, the telephony platform, the counter application, the mailroom's
scanner) gets its own random key. The configuration holds its SHA-256, the
channels it may post to, and what it may vouch for: a login (DigiD,
eHerkenning, an ID check at the counter), a network-verified caller ID (the
telephony platform), and, for a mail gateway, whose Authentication-Results
headers count. The keys are random 256-bit secrets, so an unsalted hash is
enough: there is nothing to guess.

``python -m services.ingest.auth new-key portal --channel web --may-assert-login``
prints a fresh key and its configuration entry; ``hash-key`` hashes a key read
from standard input.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import typer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts import Channel

ANONYMOUS = "anonymous"


def authserv_id(value: str) -> str:
    """An RFC 8601 authserv-id as configured: one token (usually the gateway's host
    name), compared without regard to case."""
    value = value.strip().lower()
    if not value or len(value) > 200 or any(c.isspace() or c in ';()"' for c in value):
        raise ValueError(f"{value!r} is not an authserv-id (one token, e.g. mx.gemeente.nl)")
    return value


AuthservId = Annotated[str, AfterValidator(authserv_id)]


class Integration(BaseModel):
    """One source system's entry in ``EENLOKET_API_KEYS``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")
    channels: frozenset[Channel] = Field(min_length=1)
    may_assert_login: bool = False
    # The telephony platform may mark a caller's number as network-verified
    # (``caller_id_verified``); a separate permission from logins: vouching for a number
    # is not vouching for a person.
    may_assert_caller_id: bool = False
    # A mail gateway posting to the e-mail route: the authserv-ids (RFC 8601) whose
    # Authentication-Results headers are its own, so their dmarc=pass is evidence.
    trusted_authserv_ids: frozenset[AuthservId] = frozenset()


@dataclass(frozen=True)
class Caller:
    """The integration behind a request, once its key checked out."""

    name: str
    may_assert_login: bool
    may_assert_caller_id: bool = False
    trusted_authserv_ids: frozenset[str] = frozenset()


class UnknownKeyError(Exception):
    """No key where one is required, or a key that matches no integration (401)."""


class ChannelNotAllowedError(Exception):
    """A valid key, but for other channels (403)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    def __init__(self, integrations: Mapping[str, Integration], *, allow_anonymous: bool) -> None:
        self._by_hash = {i.sha256: (name, i) for name, i in integrations.items()}
        self._allow_anonymous = allow_anonymous

    def authenticate(self, key: str | None, channel: Channel) -> Caller:
        if not key:
            if self._allow_anonymous:
                return Caller(name=ANONYMOUS, may_assert_login=False)
            raise UnknownKeyError("an API key is required (header X-Api-Key)")
        digest = hash_key(key)
        found = self._by_hash.get(digest)
        # compare_digest: the dict lookup already matched, but keep the final check
        # constant-time so the code reads as what it is.
        if found is None or not hmac.compare_digest(found[1].sha256, digest):
            raise UnknownKeyError("the API key is not known")
        name, integration = found
        if channel not in integration.channels:
            raise ChannelNotAllowedError(f"this key may not post to the '{channel}' channel")
        return Caller(
            name=name,
            may_assert_login=integration.may_assert_login,
            may_assert_caller_id=integration.may_assert_caller_id,
            trusted_authserv_ids=integration.trusted_authserv_ids,
        )


cli = typer.Typer(help="API keys for ingest integrations.", no_args_is_help=True)


@cli.command("new-key")
def new_key(
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
    """Print a new random key (give it to the integration) and its EENLOKET_API_KEYS entry."""
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


@cli.command("hash-key")
def hash_key_command() -> None:
    """Hash a key read from standard input (so it never appears in shell history)."""
    key = sys.stdin.readline().strip()
    if not key:
        raise typer.BadParameter("no key on standard input")
    typer.echo(hash_key(key))


if __name__ == "__main__":
    cli()
