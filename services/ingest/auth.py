"""Which integration is calling: API keys per source system, stored only as hashes.

Every integration (the portal, the mail gateway, the app backend, the chat
platform, the telephony platform, the counter application, the mailroom's
scanner) gets its own random key. The configuration holds its SHA-256, the
channels it may post to, and whether it may assert a login (DigiD,
eHerkenning, an ID check at the counter). The keys are random 256-bit
secrets, so an unsalted hash is enough: there is nothing to guess.

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
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Channel

ANONYMOUS = "anonymous"


class Integration(BaseModel):
    """One source system's entry in ``EENLOKET_API_KEYS``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")
    channels: frozenset[Channel] = Field(min_length=1)
    may_assert_login: bool = False


@dataclass(frozen=True)
class Caller:
    """The integration behind a request, once its key checked out."""

    name: str
    may_assert_login: bool


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
        return Caller(name=name, may_assert_login=integration.may_assert_login)


cli = typer.Typer(help="API keys for ingest integrations.", no_args_is_help=True)


@cli.command("new-key")
def new_key(
    name: str,
    channel: Annotated[list[Channel], typer.Option(help="a channel the key may post to")],
    may_assert_login: Annotated[bool, typer.Option(help="may assert DigiD/eHerkenning")] = False,
) -> None:
    """Print a new random key (give it to the integration) and its EENLOKET_API_KEYS entry."""
    key = secrets.token_urlsafe(32)
    entry = {
        name: {
            "sha256": hash_key(key),
            "channels": sorted(c.value for c in channel),
            "may_assert_login": may_assert_login,
        }
    }
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
