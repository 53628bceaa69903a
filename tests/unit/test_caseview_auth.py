"""Caseview tokens: what is accepted, what is refused, and the dev key kept out of production."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from services.caseview.auth import InvalidTokenError, Role, TokenValidator, mint_token
from services.caseview.config import DEV_ISSUER, DEVKEYS, CaseviewSettings, dev_public_key


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def validate(token: str, settings: CaseviewSettings | None = None):
    return asyncio.run(TokenValidator(settings or CaseviewSettings()).validate(token))


def test_a_minted_dev_token_is_accepted_with_its_claims() -> None:
    principal = validate(mint_token("u-1", teams=["kcc", "wmo"], roles=["kcc"]))
    assert principal.user == "u-1"
    assert principal.teams == {"kcc", "wmo"}
    assert principal.has_any(frozenset({Role.KCC}))
    assert not principal.has_any(frozenset({Role.AUDITOR}))


@pytest.mark.parametrize(
    "token",
    [
        mint_token("u", ttl=timedelta(seconds=-300)),  # expired (beyond the leeway)
        mint_token("u", audience="another-app"),
        mint_token("u", issuer="https://evil.example"),
        mint_token("u", private_key_pem=_key_pair()[0]),  # signed by someone else
        jwt.encode({"sub": "u", "iss": DEV_ISSUER, "aud": "eenloket-caseview"}, "", "none"),
        jwt.encode(
            {"sub": "u"}, "a-shared-secret-of-at-least-32-bytes!", "HS256"
        ),  # a shared secret is not the issuer's key
        "not.a.jwt",
        "",
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        validate(token)


@pytest.mark.parametrize("claims", [{"teams": "kcc"}, {"roles": [1]}, {"sub": ""}, {"sub": None}])
def test_claims_of_the_wrong_shape_are_refused(claims: dict[str, object]) -> None:
    payload = {"sub": "u", "iss": DEV_ISSUER, "aud": "eenloket-caseview", "exp": 4102444800}
    token = jwt.encode({**payload, **claims}, (DEVKEYS / "dev-private.pem").read_text(), "RS256")
    with pytest.raises(InvalidTokenError):
        validate(token)


def test_configured_keys_replace_the_dev_key() -> None:
    private, public = _key_pair()
    settings = CaseviewSettings(oidc_public_keys=[public], oidc_issuer="https://idp.example")
    token = mint_token("u", issuer="https://idp.example", private_key_pem=private)
    assert validate(token, settings).user == "u"
    with pytest.raises(InvalidTokenError):  # the dev key is no longer trusted
        validate(mint_token("u", issuer="https://idp.example"), settings)


def test_production_refuses_the_dev_issuer_the_dev_key_and_no_keys() -> None:
    _, public = _key_pair()
    base: dict[str, Any] = {"environment": "production", "oin": "00000001234567890000"}
    with pytest.raises(ValidationError, match="OIDC_ISSUER"):
        CaseviewSettings(**base, oidc_public_keys=[public])
    with pytest.raises(ValidationError, match="JWKS_URL"):
        CaseviewSettings(**base, oidc_issuer="https://idp.example")
    with pytest.raises(ValidationError, match="dev public key"):
        CaseviewSettings(
            **base, oidc_issuer="https://idp.example", oidc_public_keys=[dev_public_key()]
        )
    ok = CaseviewSettings(**base, oidc_issuer="https://idp.example", oidc_public_keys=[public])
    assert ok.trusted_public_keys() == [public]


def test_keys_from_the_issuers_jwks_url() -> None:
    private, public = _key_pair()
    key = serialization.load_pem_public_key(public.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = CaseviewSettings(
            oidc_issuer="https://idp.example",
            oidc_jwks_url=f"http://127.0.0.1:{server.server_port}/jwks",
        )
        assert settings.trusted_public_keys() == []  # no dev key next to a JWKS URL
        signed = jwt.encode(
            {
                "sub": "u-jwks",
                "iss": "https://idp.example",
                "aud": "eenloket-caseview",
                "exp": 4102444800,
                "roles": ["kcc"],
            },
            private,
            "RS256",
            headers={"kid": "k1"},
        )
        assert validate(signed, settings).user == "u-jwks"
        with pytest.raises(InvalidTokenError):  # the dev key's tokens are not the issuer's
            validate(mint_token("u", issuer="https://idp.example"), settings)
    finally:
        server.shutdown()
