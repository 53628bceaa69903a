"""Caseview's issuer keys through OIDC discovery and JWKS, against an in-memory issuer: cached,
refetched once for an unknown key id (rotation), rate-limited, kept while the issuer is down."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.caseview.auth import InvalidTokenError, Principal, TokenValidator
from services.caseview.config import CaseviewSettings
from services.caseview.oidc import IssuerKeys, discovery_url, parse_jwks
from tests.support import eventually

ISSUER = "https://login.gemeente.example/realms/eenloket"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeIssuer:
    """Serves a discovery document and a JWKS from memory; signs tokens with its current key."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current = self.rotate()
        self.requests: list[str] = []
        self.down = False
        self.gate: asyncio.Event | None = None  # set: every fetch waits for it (a hanging issuer)
        self.discovered_issuer = ISSUER

    def rotate(self) -> str:
        kid = f"k-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.current = kid
        return kid

    async def fetch(self, url: str) -> Any:
        if self.gate is not None:
            await self.gate.wait()
        self.requests.append(url)
        if self.down:
            raise httpx.ConnectError("issuer down")
        if url == discovery_url(ISSUER):
            return {"issuer": self.discovered_issuer, "jwks_uri": ISSUER + "/certs"}
        assert url == ISSUER + "/certs"
        jwks = [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid}
            for kid, k in self.keys.items()
        ]
        # Keycloak also publishes an encryption key: never a signing key.
        encryption = {**jwks[0], "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"}
        return {"keys": [{**k, "use": "sig", "alg": "RS256"} for k in jwks] + [encryption]}

    def token(self, kid: str | None = None, **claims: Any) -> str:
        kid = kid or self.current
        payload = {
            "iss": ISSUER,
            "aud": "eenloket-caseview",
            "sub": "u-1",
            "exp": int(time.time()) + 300,
            "teams": ["kcc"],
            "roles": ["kcc"],
            **claims,
        }
        key = self.keys.get(kid) or self.keys[self.current]
        return jwt.encode(payload, key, "RS256", headers={"kid": kid})


async def _async(value: bool) -> bool:
    return value


def validator(issuer: FakeIssuer, clock: Clock) -> TokenValidator:
    settings = CaseviewSettings(oidc_issuer=ISSUER, oidc_discovery=True)
    tokens = TokenValidator(settings, fetch=issuer.fetch)
    assert tokens.issuer_keys is not None
    tokens.issuer_keys = IssuerKeys(ISSUER, fetch=issuer.fetch, min_interval=10, clock=clock)
    return tokens


async def test_keys_come_through_discovery_once_and_then_from_the_cache() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    for n in range(20):
        principal = await tokens.validate(issuer.token(sub=f"u-{n}"))
        assert principal == Principal(user=f"u-{n}", teams=frozenset({"kcc"}), roles={"kcc"})
    # One discovery, one JWKS: no network call per request.
    assert issuer.requests == [discovery_url(ISSUER), ISSUER + "/certs"]


async def test_a_rotated_key_is_fetched_once_and_made_up_key_ids_are_rate_limited() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    await tokens.validate(issuer.token())
    clock.now += 11
    issuer.rotate()
    assert (await tokens.validate(issuer.token())).user == "u-1"  # new kid: one refetch
    assert len(issuer.requests) == 3
    for _ in range(50):  # a flood of unknown key ids: at most one fetch per interval
        with pytest.raises(InvalidTokenError):
            await tokens.validate(issuer.token(kid=f"bogus-{uuid.uuid4()}"))
    assert len(issuer.requests) == 3  # the last fetch was less than 10 s ago
    clock.now += 11
    with pytest.raises(InvalidTokenError):
        await tokens.validate(issuer.token(kid="bogus"))
    assert len(issuer.requests) == 4


async def test_while_the_issuer_is_down_the_known_keys_keep_working() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    await tokens.validate(issuer.token())
    issuer.down = True
    clock.now += 2 * 3600  # the cache is stale: a refresh is tried, fails, the keys stay
    assert (await tokens.validate(issuer.token())).user == "u-1"
    await eventually(lambda: _async(len(issuer.requests) == 3))  # the background attempt
    assert (await tokens.validate(issuer.token())).user == "u-1"
    issuer.down = False
    clock.now += 11
    issuer.rotate()  # up again: the discovery is asked again, the new key found
    assert (await tokens.validate(issuer.token())).user == "u-1"


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"iss": "https://login.elders.example/realms/eenloket"},
        {"exp": int(time.time()) - 120},  # beyond the 30 s leeway
    ],
)
async def test_audience_issuer_and_expiry_are_checked(claims: dict[str, Any]) -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    with pytest.raises(InvalidTokenError):
        await tokens.validate(issuer.token(**claims))


async def test_a_small_clock_skew_is_tolerated() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    assert await tokens.validate(issuer.token(exp=int(time.time()) - 10))


async def test_a_token_without_a_key_id_or_signed_by_an_unpublished_key_is_refused() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": ISSUER, "aud": "eenloket-caseview", "sub": "u", "exp": 4102444800}
    with pytest.raises(InvalidTokenError, match="key id"):
        await tokens.validate(jwt.encode(claims, stranger, "RS256"))
    forged = jwt.encode(claims, stranger, "RS256", headers={"kid": issuer.current})
    with pytest.raises(InvalidTokenError):
        await tokens.validate(forged)


async def test_a_discovery_document_naming_another_issuer_gives_no_keys() -> None:
    issuer, clock = FakeIssuer(), Clock()
    issuer.discovered_issuer = "https://login.elders.example"
    tokens = validator(issuer, clock)
    with pytest.raises(InvalidTokenError):
        await tokens.validate(issuer.token())
    assert issuer.requests == [discovery_url(ISSUER)]  # the JWKS it names is never fetched


def test_parse_jwks_keeps_signing_keys_with_an_id_only() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    keys = parse_jwks(
        {
            "keys": [
                {**jwk, "kid": "sig-1", "use": "sig", "alg": "RS256"},
                {**jwk, "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"},
                {**jwk, "use": "sig"},  # no kid
                {"kty": "unknown", "kid": "odd"},
                "not a key",
            ]
        }
    )
    assert set(keys) == {"sig-1"}
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks({"nokeys": []})


def test_production_accepts_discovery_as_the_key_source() -> None:
    settings = CaseviewSettings(
        environment="production",
        oin="00000001234567890000",
        oidc_issuer=ISSUER,
        oidc_discovery=True,
    )
    assert settings.trusted_public_keys() == []  # never the dev key next to the issuer's


async def test_an_old_cache_is_refreshed_behind_the_requests_back() -> None:
    issuer, clock = FakeIssuer(), Clock()
    tokens = validator(issuer, clock)
    await tokens.validate(issuer.token())
    issuer.gate = asyncio.Event()
    issuer_keys = tokens.issuer_keys
    assert issuer_keys is not None
    clock.now += 2 * 3600
    # Known key, old cache: answered at once, while the refresh waits for the issuer.
    for _ in range(5):
        assert (await asyncio.wait_for(tokens.validate(issuer.token()), 1)).user == "u-1"
    assert issuer_keys.fetches == 2  # one background refresh, not one per request
    issuer.gate.set()
    await eventually(lambda: _async(len(issuer.requests) == 3))


class Counting(TokenValidator):
    """Counts signature checks (one ``_decode`` per check)."""

    decodes = 0

    def _decode(self, token: str, key: Any, *, issuer: str | None = None) -> dict[str, Any]:
        self.decodes += 1
        return super()._decode(token, key, issuer=issuer)


def counting(issuer: FakeIssuer, clock: Clock, wall: Clock) -> Counting:
    settings = CaseviewSettings(oidc_issuer=ISSUER, oidc_discovery=True)
    tokens = Counting(settings, fetch=issuer.fetch, clock=wall)
    tokens.issuer_keys = IssuerKeys(ISSUER, fetch=issuer.fetch, min_interval=10, clock=clock)
    return tokens


async def test_a_verified_token_is_checked_once_until_its_expiry_and_never_beyond() -> None:
    issuer, clock, wall = FakeIssuer(), Clock(), Clock()
    wall.now = time.time()
    tokens = counting(issuer, clock, wall)
    token = issuer.token(exp=int(wall.now) + 60)
    for _ in range(10):
        assert (await tokens.validate(token)).user == "u-1"
    assert tokens.decodes == 1
    other = issuer.token(sub="u-2")  # another token is a check of its own
    assert (await tokens.validate(other)).user == "u-2" and tokens.decodes == 2
    wall.now = float(int(wall.now) + 60)  # at its `exp`: checked afresh every time
    await tokens.validate(token)
    await tokens.validate(token)
    assert tokens.decodes == 4
    for bad in (token[:-4] + "AAAA", issuer.token(exp=int(time.time()) - 3600)):
        for _ in range(2):  # a token that failed is never remembered
            with pytest.raises(InvalidTokenError):
                await tokens.validate(bad)
    assert tokens.decodes == 8


async def test_a_withdrawn_signing_key_fails_the_tokens_it_verified_before() -> None:
    issuer, clock, wall = FakeIssuer(), Clock(), Clock()
    wall.now = time.time()
    tokens = counting(issuer, clock, wall)
    old_kid = issuer.current
    token = issuer.token()
    assert (await tokens.validate(token)).user == "u-1"
    assert (await tokens.validate(token)).user == "u-1" and tokens.decodes == 1
    issuer.rotate()
    del issuer.keys[old_kid]  # the issuer withdrew the old key (compromised, say)
    clock.now += 11
    assert (await tokens.validate(issuer.token(sub="u-2"))).user == "u-2"  # a refetch
    with pytest.raises(InvalidTokenError):  # remembered, but its key is gone
        await tokens.validate(token)


async def test_the_tokens_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.caseview.auth.TOKEN_CACHE_SIZE", 3)
    issuer, clock, wall = FakeIssuer(), Clock(), Clock()
    wall.now = time.time()
    tokens = counting(issuer, clock, wall)
    many = [issuer.token(sub=f"u-{n}") for n in range(5)]
    for token in many:
        await tokens.validate(token)
    assert tokens.decodes == 5
    for token in many[2:]:  # the three newest are remembered
        await tokens.validate(token)
    assert tokens.decodes == 5
    await tokens.validate(many[0])  # the oldest was dropped: checked again
    assert tokens.decodes == 6
