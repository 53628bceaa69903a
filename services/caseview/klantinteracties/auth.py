"""Integrations and their tokens: ``Authorization: Token <token>``, as Open Klant's clients send it.

Each token is bound to an integration with a name, teams, roles and a default purpose; the
configuration holds only the token's SHA-256 (``EENLOKET_KLANTINTERACTIES_INTEGRATIONS`` as
JSON, or ``EENLOKET_KLANTINTERACTIES_INTEGRATIONS_FILE`` naming a JSON file):

    [{"name": "kcc-app", "token_sha256": "<hex>", "teams": ["kcc"],
      "roles": ["integration"], "purpose": "klantcontact afhandelen",
      "kanalen": ["phone", "counter"], "asserts_identity": false}]

Unlike Open Klant (where any valid token reads everything), the integration is the reader:
its teams decide need-to-know and its reads are access-logged under its name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.caseview.access_log.audited import AuditedRead
from services.caseview.auth import Principal
from services.caseview.web import NO_NUL, SessionDep
from shared.contracts import Channel
from shared.http import ProblemError

CHALLENGE = {"WWW-Authenticate": 'Token realm="klantinteracties"'}


class Integration(BaseModel):
    """One client system and what its token may see."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    teams: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset({"integration"})
    purpose: str | None = Field(default=None, max_length=500)
    # Writes (writes.py): the channels (kanalen) it may register contacts for (none: it only
    # reads), and whether its staff checked identity so a partij's BSN is authenticated.
    kanalen: frozenset[Channel] = frozenset()
    asserts_identity: bool = False

    def principal(self) -> Principal:
        # "integration:" keeps an integration apart from a staff member's `sub` in the log.
        return Principal(user=f"integration:{self.name}", teams=self.teams, roles=self.roles)


_INTEGRATIONS = TypeAdapter(list[Integration])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Integrations:
    """The configured integrations, found by token in constant time per entry."""

    def __init__(self, integrations: list[Integration]) -> None:
        names = [i.name for i in integrations]
        if len(set(names)) != len(names):
            raise ValueError("klantinteracties integrations: names must be unique")
        self._all = integrations

    @classmethod
    def load(cls, inline: str, file: Path | None) -> Integrations:
        found = _INTEGRATIONS.validate_json(inline) if inline.strip() else []
        if file is not None:
            found += _INTEGRATIONS.validate_python(json.loads(file.read_text(encoding="utf-8")))
        return cls(found)

    @property
    def write(self) -> bool:
        """Whether any integration may register contacts (writes.py)."""
        return any(i.kanalen for i in self._all)

    @property
    def writers(self) -> list[str]:
        """The names of the integrations that may register contacts (their drafts: settle.py)."""
        return [i.name for i in self._all if i.kanalen]

    def find(self, token: str) -> Integration | None:
        digest = token_hash(token).encode()
        match = None
        for integration in self._all:  # every entry compared: the time tells nothing
            if hmac.compare_digest(digest, integration.token_sha256.encode()):
                match = integration
        return match


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Niet geauthenticeerd", detail, headers=CHALLENGE)


async def integration(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Integration:
    if not authorization:
        raise _unauthorized("Stuur een token: 'Authorization: Token <token>'.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "token" or not token.strip():
        raise _unauthorized("Gebruik het schema 'Token': 'Authorization: Token <token>'.")
    found: Integration | None = request.app.state.integrations.find(token.strip())
    if found is None:
        raise _unauthorized("Dit token is onbekend.")
    return found


IntegrationDep = Annotated[Integration, Depends(integration)]
Purpose = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=500,
        pattern=NO_NUL,
        description="Why you read this (doelbinding); default: the integration's purpose.",
    ),
]


async def integration_read(
    request: Request, session: SessionDep, who: IntegrationDep, purpose: Purpose = None
) -> AuditedRead:
    """caseview's one audited read, with the integration as the reader."""
    return AuditedRead(request, session, who.principal(), purpose or who.purpose)


IntegrationRead = Annotated[AuditedRead, Depends(integration_read)]
