"""The console's login configuration (``/console/config.json``) and its Content-Security-Policy:
the issuer's origin, and nothing else, may be fetched from the pages."""

from __future__ import annotations

import httpx
import pytest

from services.caseview.auth import InvalidTokenError, TokenValidator, mint_token
from services.caseview.bootstrap import create_app
from services.caseview.config import CaseviewSettings


async def fetch(settings: CaseviewSettings, path: str) -> httpx.Response:
    app = create_app(settings)
    app.state.settings = settings  # no lifespan needed for the console's own routes
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path)


async def test_without_an_issuer_the_console_offers_the_dev_login_only() -> None:
    settings = CaseviewSettings(environment="test")
    config = (await fetch(settings, "/console/config.json")).json()
    assert config == {"issuer": "", "client_id": "", "dev_login": True}
    csp = (await fetch(settings, "/console/aanmelden.html")).headers["content-security-policy"]
    assert "connect-src 'self';" in csp


def trusting(issuer: str, environment: str = "test", **extra: object) -> CaseviewSettings:
    """Caseview trusting ``issuer`` through discovery."""
    return CaseviewSettings.model_validate(
        {"environment": environment, "oidc_issuer": issuer, "oidc_discovery": True, **extra}
    )


async def test_with_an_issuer_the_console_logs_in_there_and_may_connect_to_it() -> None:
    issuer = "https://login.gemeente.example:8443/realms/eenloket"
    settings = trusting(issuer, console_oidc_issuer=issuer, console_oidc_client_id="console")
    config = (await fetch(settings, "/console/config.json")).json()
    # Caseview trusts the issuer, not the dev key: no dev login.
    assert config == {"issuer": issuer, "client_id": "console", "dev_login": False}
    page = await fetch(settings, "/console/aanmelden.html")
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self' https://login.gemeente.example:8443;" in csp
    assert "script-src 'self';" in csp and "form-action 'self';" in csp
    assert "Inloggen" in page.text


async def test_an_issuer_without_a_client_id_is_not_offered() -> None:
    settings = CaseviewSettings(environment="test", console_oidc_issuer="https://idp.example")
    config = (await fetch(settings, "/console/config.json")).json()
    assert config["issuer"] == "" and config["client_id"] == ""


@pytest.mark.parametrize("issuer", ["javascript:alert(1)", "https://idp.example/\"'><x>"])
def test_an_issuer_that_is_no_plain_url_is_refused(issuer: str) -> None:
    with pytest.raises(ValueError, match="console_oidc_issuer"):
        CaseviewSettings(console_oidc_issuer=issuer)


async def test_the_demo_accepts_dev_tokens_beside_the_issuers_and_production_refuses() -> None:
    issuer = "https://login.gemeente.example/realms/eenloket"
    settings = trusting(issuer, "development", oidc_dev_tokens_too=True)
    principal = await TokenValidator(settings).validate(mint_token("demo", roles=["kcc"]))
    assert principal.user == "demo"
    # A dev-key token claiming the real issuer goes to the issuer's keys, which lack the kid.
    forged = mint_token("demo", roles=["kcc"], issuer=issuer)
    with pytest.raises(InvalidTokenError):
        await TokenValidator(settings).validate(forged)
    # Without the setting, a dev token is refused where an issuer is configured.
    strict = trusting(issuer, "development")
    with pytest.raises(InvalidTokenError):
        await TokenValidator(strict).validate(mint_token("demo", roles=["kcc"]))
    with pytest.raises(ValueError, match="development only"):
        trusting(issuer, "production", oin="00000001001234567000", oidc_dev_tokens_too=True)
