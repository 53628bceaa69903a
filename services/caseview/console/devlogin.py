"""DEVELOPMENT ONLY: mint a dev token for the console's login page.

Registered only when ``EENLOKET_ENVIRONMENT`` is ``development`` or ``test`` *and*
caseview trusts the dev key (no issuer keys configured), so it can only ever
produce tokens this very caseview would accept anyway from
``eenloket tokens mint``. In production the route does not
exist (404) and the login page offers only "paste a token". Each request checks
the environment again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.caseview.auth import Role, mint_token
from services.caseview.config import CaseviewSettings, dev_public_key
from shared.http import ProblemError

DEV_ENVIRONMENTS = frozenset({"development", "test"})
TTL = timedelta(hours=8)  # a working day

router = APIRouter(prefix="/console/dev", include_in_schema=False)

TeamId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


def allowed(settings: CaseviewSettings) -> bool:
    """Development or test, and the dev public key is the only key caseview trusts."""
    return (
        settings.environment in DEV_ENVIRONMENTS
        and settings.oidc_jwks_url is None
        and settings.trusted_public_keys() == [dev_public_key()]
    )


def _settings(request: Request) -> CaseviewSettings:
    settings: CaseviewSettings = request.app.state.settings
    if not allowed(settings):
        raise ProblemError(404, "Not found")
    return settings


class DevLogin(BaseModel):
    model_config = ConfigDict(frozen=True)

    dev_login: bool = True
    environment: str
    roles: list[str]
    hours: float


class DevTokenRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    teams: list[TeamId] = Field(default_factory=list, max_length=20)
    roles: list[Role] = Field(min_length=1, max_length=5)


class DevToken(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str
    expires_at: datetime


@router.get("")
async def dev_login(request: Request) -> DevLogin:
    """Tells the login page that dev tokens can be minted here."""
    settings = _settings(request)
    return DevLogin(
        environment=settings.environment,
        roles=[r.value for r in Role],
        hours=TTL.total_seconds() / 3600,
    )


@router.post("/token")
async def dev_token(request: Request, body: DevTokenRequest) -> DevToken:
    """A DEV-ONLY token for the chosen user, teams and roles (signed with devkeys/)."""
    settings = _settings(request)
    now = datetime.now(UTC)
    token = mint_token(
        body.user,
        teams=sorted(set(body.teams)),
        roles=sorted({r.value for r in body.roles}),
        ttl=TTL,
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        now=now,
    )
    return DevToken(token=token, expires_at=now + TTL)
