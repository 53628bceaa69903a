"""Which integration is calling: API keys per source system, stored only as hashes.

Every integration (the portal, the mail gateway, the app backend, the chat
platform, the telephony platform, the counter application, the mailroom's
scanner) gets its own random key. The configuration holds its SHA-256, the
channels it may post to, and what it may vouch for: a login (DigiD,
eHerkenning, an ID check at the counter), a network-verified caller ID (the
telephony platform), and, for a mail gateway, whose Authentication-Results
headers count. The keys are random 256-bit secrets, so an unsalted hash is
enough: there is nothing to guess.

``eenloket keys new portal --channel web --may-assert-login`` (ops/commands/keys.py)
prints a fresh key and its configuration entry; ``eenloket keys hash`` hashes a key
read from standard input.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

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
