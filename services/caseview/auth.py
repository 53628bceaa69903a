"""OIDC bearer tokens: validation, the caller (``Principal``), roles, and the dev token minter.

A token is a JWT signed by the issuer (RS256/ES256), checked for signature,
issuer, audience and expiry. Claims: ``sub`` (opaque user id), ``teams`` (team
ids from the routing file) and ``roles``. Roles:

- ``kcc``          contact centre: find parties, read every history, act on cases of its teams,
                   decide suggested links, merge and unmerge;
- ``member``       team member: read histories, work the team's queue and cases;
- ``lead``         team lead: as member, plus decide links, merge and unmerge;
- ``integration``  front-office app: read histories and locate contacts;
- ``auditor``      reads the access log, and nothing else.

Residents (``Resident``) are not staff: their tokens come from the resident portal's client
(``EENLOKET_RESIDENT_CLIENTS``, the token's ``azp``) and carry ``bsn`` or ``kvk`` and ``loa``;
they read ``/v1/me`` only (services/caseview/resident/), and staff routes refuse them.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, ConfigDict

from services.caseview.config import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    DEVKEYS,
    CaseviewSettings,
    dev_public_key,
)
from services.caseview.oidc import FetchJson, IssuerKeys, UnknownKeyError, fetch_json


class Role(StrEnum):
    KCC = "kcc"
    MEMBER = "member"
    LEAD = "lead"
    INTEGRATION = "integration"
    AUDITOR = "auditor"


READ_HISTORY = frozenset({Role.KCC, Role.MEMBER, Role.LEAD, Role.INTEGRATION})
ACT_ON_CASES = frozenset({Role.KCC, Role.MEMBER, Role.LEAD})
DECIDE_IDENTITY = frozenset({Role.KCC, Role.LEAD})
AUDIT = frozenset({Role.AUDITOR})


class Principal(BaseModel):
    """Who is calling, from a validated token."""

    model_config = ConfigDict(frozen=True)

    user: str
    teams: frozenset[str]
    roles: frozenset[str]
    client: str | None = None  # the token's `azp`: a resident portal's token is no staff token

    def has_any(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles & {r.value for r in roles})


class InvalidTokenError(Exception):
    """The token is missing, malformed, badly signed, expired or for someone else."""


TOKEN_CACHE_SIZE = 10_000  # tokens remembered as verified; the oldest goes first


@dataclass(frozen=True)
class _Verified:
    claims: dict[str, Any]
    exp: float
    kid: str | None  # the issuer key that verified it (None: the dev or a configured key)
    key: Any


class TokenValidator:
    def __init__(
        self,
        settings: CaseviewSettings,
        *,
        fetch: FetchJson = fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock  # wall clock: compared with the tokens' `exp`
        self._verified: dict[bytes, _Verified] = {}
        self._keys = [load_pem_public_key(pem.encode()) for pem in settings.trusted_public_keys()]
        # The issuer's JWKS (named, or found through discovery): cached, see oidc.py.
        self.issuer_keys = (
            IssuerKeys(
                settings.oidc_issuer,
                jwks_url=settings.oidc_jwks_url,
                max_age=settings.oidc_keys_max_age_seconds,
                min_interval=settings.oidc_keys_min_refetch_seconds,
                fetch=fetch,
            )
            if settings.oidc_jwks_url or settings.oidc_discovery
            else None
        )
        # Development only (refused in production by the settings): dev tokens beside these.
        self._dev_key = (
            load_pem_public_key(dev_public_key().encode())
            if settings.oidc_dev_tokens_too and settings.environment != "production"
            else None
        )

    async def validate(self, token: str) -> Principal:
        return _principal(await self.verified_claims(token))

    async def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token that passed every check (signature, issuer, audience, expiry).

        A token that passed is remembered (by its SHA-256) until its ``exp``, never beyond,
        so the signature is checked once per token, not per request (#22). A token verified
        with an issuer key is checked afresh once the issuer's key set changed (a rotation:
        a withdrawn key no longer verifies anything); one that failed is never remembered."""
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(digest)
        if hit is not None:
            if self._clock() < hit.exp and await self._key_unchanged(hit):
                return dict(hit.claims)
            del self._verified[digest]
        claims, kid, key = await self._verify(token)
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[digest] = _Verified(dict(claims), float(exp), kid, key)
        return claims

    async def _key_unchanged(self, hit: _Verified) -> bool:
        if hit.kid is None or self.issuer_keys is None:
            return True  # the dev key and configured keys are fixed for the process
        try:  # a dict lookup; as for any token, may start a refresh of an old key set
            return await self.issuer_keys.key(hit.kid) is hit.key
        except UnknownKeyError:
            return False

    async def _verify(self, token: str) -> tuple[dict[str, Any], str | None, Any]:
        """Claims, and the issuer key id and key that verified them (``None`` for others)."""
        kid: str | None = None
        key: Any = None
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self._settings.oidc_algorithms:
                raise InvalidTokenError("algorithm not allowed")
            if self._dev_key is not None and _issuer_named(token) == DEV_ISSUER:
                claims = self._decode(token, self._dev_key, issuer=DEV_ISSUER)
            elif self.issuer_keys is not None:
                kid = header.get("kid")
                if not isinstance(kid, str) or not kid:
                    raise InvalidTokenError("no key id")
                key = await self.issuer_keys.key(kid)
                claims = self._decode(token, key)
            else:
                claims = self._try_keys(token)
        except InvalidTokenError:
            raise
        except (jwt.PyJWTError, UnknownKeyError, ValueError, TypeError) as exc:
            raise InvalidTokenError(type(exc).__name__) from exc
        return claims, kid, key

    def _try_keys(self, token: str) -> dict[str, Any]:
        # Static keys (key rotation: old and new side by side): the first that verifies wins.
        last: Exception = InvalidTokenError("no key")
        for key in self._keys:
            try:
                return self._decode(token, key)
            except jwt.InvalidSignatureError as exc:
                last = exc
        raise InvalidTokenError(type(last).__name__)

    def _decode(self, token: str, key: Any, *, issuer: str | None = None) -> dict[str, Any]:
        s = self._settings
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=s.oidc_algorithms,
            audience=s.oidc_audience,
            issuer=issuer or s.oidc_issuer,
            leeway=s.oidc_leeway_seconds,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        return claims


def _issuer_named(token: str) -> Any:
    """The `iss` the token claims, unverified: only to choose the key that must verify it."""
    return jwt.decode(token, options={"verify_signature": False}).get("iss")


def _principal(claims: dict[str, Any]) -> Principal:
    teams = claims.get("teams", [])
    roles = claims.get("roles", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise InvalidTokenError("claim 'teams' must be a list of strings")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidTokenError("claim 'roles' must be a list of strings")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise InvalidTokenError("claim 'sub' must be a non-empty string")
    azp = claims.get("azp")
    client = azp if isinstance(azp, str) else None
    return Principal(user=sub, teams=frozenset(teams), roles=frozenset(roles), client=client)


# eIDAS levels of assurance, weakest first; a token may name them as the eIDAS URI
# (http://eidas.europa.eu/LoA/substantial, as the realm's DigiD stand-in does) or bare.
LOA_LEVELS = ("low", "substantial", "high")
RESIDENT_ROLE = "resident"  # how a resident's reads are marked in the access log


class NotAResidentError(Exception):
    """A valid token that is no resident's: another client, or no bsn/kvk or loa."""


class Resident(BaseModel):
    """A resident (or company) logged in through the resident portal: who, and how surely."""

    model_config = ConfigDict(frozen=True)

    user: str  # the token's `sub`
    kind: str  # "bsn" or "kvk"
    number: str
    loa: str  # one of LOA_LEVELS

    def at_least(self, level: str) -> bool:
        return LOA_LEVELS.index(self.loa) >= LOA_LEVELS.index(level)

    def as_principal(self) -> Principal:
        """For the access log: the resident's `sub`, no teams, the role "resident"."""
        return Principal(user=self.user, teams=frozenset(), roles=frozenset({RESIDENT_ROLE}))


def resident(claims: dict[str, Any], clients: list[str]) -> Resident:
    if claims.get("azp") not in clients:
        raise NotAResidentError("not a token of the resident portal")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise NotAResidentError("no subject")
    bsn, kvk = claims.get("bsn"), claims.get("kvk")
    if isinstance(bsn, str) and re.fullmatch(r"[0-9]{9}", bsn):
        kind, number = "bsn", bsn
    elif isinstance(kvk, str) and re.fullmatch(r"[0-9]{8}", kvk):
        kind, number = "kvk", kvk
    else:
        raise NotAResidentError("no bsn or kvk")
    loa = claims.get("loa")
    level = loa.rstrip("/").rsplit("/", 1)[-1].lower() if isinstance(loa, str) else None
    if level not in LOA_LEVELS:
        raise NotAResidentError("no known level of assurance")
    return Resident(user=sub, kind=kind, number=number, loa=level)


def mint_token(
    user: str,
    *,
    teams: list[str] | tuple[str, ...] = (),
    roles: list[str] | tuple[str, ...] = (),
    ttl: timedelta = timedelta(hours=8),
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    private_key_pem: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed token for local use and tests. Defaults to the DEV-ONLY key pair."""
    key = private_key_pem or (DEVKEYS / "dev-private.pem").read_text()
    issued = now or datetime.now(UTC)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user,
        "teams": list(teams),
        "roles": list(roles),
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="RS256")
