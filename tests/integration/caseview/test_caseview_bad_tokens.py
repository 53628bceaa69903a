"""Bad tokens against caseview trusting a real Keycloak realm (keys through discovery): a
token from another issuer or for another audience, an expired one, `alg: none`, HS256 signed
with the realm's public key (algorithm confusion), and a resident's token (a `bsn`, no staff
role) on the staff routes. Each answers 401 or 403, and never the data.

(Another issuer and another audience are also in test_caseview_keycloak.py; here all the bad
tokens meet the same routes, with the answer body checked for the data.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.caseview.config import DEVKEYS
from tests.integration.caseview.conftest import (
    Caseview,
    Party,
    free_port,
    running,
    settings_for,
    trusting_realm,
)
from tests.keycloak import INTEGRATIES_SECRET, Keycloak, claims, header
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]

NAME = "Jan Jansen"
BSN = "999993653"


@pytest.fixture
async def served(
    kc: Keycloak, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, producer: Any
) -> AsyncIterator[tuple[Caseview, Party]]:
    """Caseview trusting the realm without clock leeway (so a short-lived token expires
    quickly), and one projected party."""
    party = Party()
    created = party.created(NAME, ("bsn", BSN, "authenticated"))
    url = pg_urls["caseview"]
    async with trusting_realm(
        kc.issuer, url, kafka_bootstrap, topics, producer, created, oidc_leeway_seconds=0
    ) as cv:
        yield cv, party


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reassembled(token: str, head: dict[str, Any], key: bytes | None) -> str:
    """The token's own claims under another header; HMAC-SHA256 signed with ``key`` or
    unsigned."""
    signing_input = f"{b64(json.dumps(head).encode())}.{token.split('.')[1]}"
    if key is None:
        return f"{signing_input}."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


async def realm_public_key_pem(kc: Keycloak, kid: str) -> bytes:
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{kc.issuer}/protocol/openid-connect/certs")).json()
    (entry,) = [k for k in jwks["keys"] if k["kid"] == kid]
    public = jwt.PyJWK(entry).key
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


async def answers(cv: Caseview, party: Party, token: str) -> list[httpx.Response]:
    """The staff routes a token could read this party through."""
    auth = {"Authorization": f"Bearer {token}", "X-Purpose": "bad token test"}
    return [
        await cv.client.get(f"/v1/parties/{party.id}", headers=auth),
        await cv.client.get(f"/v1/parties/{party.id}/timeline", headers=auth),
        await cv.client.post("/v1/parties/search", json={"by": "bsn", "value": BSN}, headers=auth),
    ]


def refused(responses: list[httpx.Response], status: int) -> None:
    for r in responses:
        assert r.status_code == status, (r.request.url, r.status_code, r.text)
        assert NAME not in r.text and BSN not in r.text  # never the data


async def test_bad_tokens_are_refused_and_reveal_nothing(
    kc: Keycloak, served: tuple[Caseview, Party]
) -> None:
    cv, party = served
    good = await kc.user_token("kcc-medewerker")
    # The same routes answer a good staff token with the party: the probes are real.
    ok = await answers(cv, party, good)
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert NAME in ok[0].text

    # Another issuer: the master realm's admin token.
    refused(await answers(cv, party, await kc.admin_token()), 401)

    # Another audience: a client of the same realm without caseview's audience mapper.
    client_id, secret = await kc.create_client()
    try:
        elsewhere = await kc.client_token(client_id, secret)
        assert "eenloket-caseview" not in str(claims(elsewhere).get("aud"))
        refused(await answers(cv, party, elsewhere), 401)
    finally:
        await kc.delete_client(client_id)

    # alg none: the good token's claims, unsigned.
    unsigned = reassembled(good, {"alg": "none", "typ": "JWT", "kid": header(good)["kid"]}, None)
    refused(await answers(cv, party, unsigned), 401)

    # Algorithm confusion: HS256 with the realm's *public* key as the shared secret.
    pem = await realm_public_key_pem(kc, header(good)["kid"])
    confused = reassembled(good, {"alg": "HS256", "typ": "JWT", "kid": header(good)["kid"]}, pem)
    refused(await answers(cv, party, confused), 401)

    # A resident (DigiD stand-in: bsn, level of assurance, no staff role) on staff routes:
    # a valid token, so 403, and not even their own record through these routes.
    resident = await kc.user_token("inwoner-jansen")
    assert claims(resident)["bsn"] == BSN
    assert not claims(resident).get("roles")
    refused(await answers(cv, party, resident), 403)


async def test_an_expired_keycloak_token_is_refused(
    kc: Keycloak, served: tuple[Caseview, Party]
) -> None:
    cv, party = served
    # A copy of the integrations client whose access tokens live five seconds (and
    # caseview allows no clock leeway). Its new service account has no role: while the
    # token is valid caseview knows who calls (403), once it has expired it does not (401).
    copy = await kc.copy_client(
        "integraties", secret=INTEGRATIES_SECRET, **{"access.token.lifespan": "5"}
    )
    try:
        short = await kc.client_token(copy, INTEGRATIES_SECRET)
    finally:
        await kc.delete_client(copy)
    assert claims(short)["exp"] - claims(short)["iat"] <= 5
    first = await answers(cv, party, short)
    assert first[0].status_code == 403, first[0].text

    async def expired() -> bool:
        return (await answers(cv, party, short))[0].status_code == 401

    await eventually(expired, timeout=20, interval=0.5)
    refused(await answers(cv, party, short), 401)


async def test_an_unreachable_issuer_means_401_never_500(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any
) -> None:
    """Keycloak down before caseview ever saw its keys: a token is refused (401), and caseview
    answers quickly. (Keys it already has keep working: tests/unit/test_caseview_oidc.py.)"""
    issuer = f"http://127.0.0.1:{free_port()}/realms/eenloket"  # nobody listens there
    settings = settings_for(
        pg_urls["caseview"], kafka_bootstrap, topics, oidc_issuer=issuer, oidc_discovery=True
    )
    token = jwt.encode(
        {"sub": "u", "iss": issuer, "aud": "eenloket-caseview", "exp": 2_000_000_000},
        (DEVKEYS / "dev-private.pem").read_text(),
        algorithm="RS256",
        headers={"kid": "some-key"},
    )
    async with running(settings) as cv:
        for _ in range(3):
            r = await cv.client.get(
                f"/v1/parties/{Party().id}",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "issuer down"},
            )
            assert r.status_code == 401, r.text
        assert (await cv.client.get("/readyz")).status_code != 500
