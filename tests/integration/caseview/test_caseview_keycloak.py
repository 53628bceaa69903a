"""Caseview against a real Keycloak (deploy/local/keycloak.sh, the eenloket realm): its tokens
are validated through discovery and JWKS, other audiences are refused, and a rotated realm key
is accepted without a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.caseview.conftest import Caseview, Party, trusting_realm
from tests.keycloak import Keycloak, claims, header
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.keycloak]


@pytest.fixture
async def served(
    kc: Keycloak, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, producer: Any
) -> AsyncIterator[tuple[Caseview, Party]]:
    """Caseview trusting the realm (keys through discovery), and one projected party to read."""
    party = Party()
    created = party.created("Jan Jansen", ("bsn", "999993653", "authenticated"))
    async with trusting_realm(
        kc.issuer,
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        producer,
        created,
        # A short refetch interval keeps the rotation test quick; production keeps 10 s.
        oidc_keys_min_refetch_seconds=1.0,
    ) as cv:
        yield cv, party


async def read_party(cv: Caseview, party: Party, token: str) -> httpx.Response:
    return await cv.client.get(
        f"/v1/parties/{party.id}",
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "keycloak test"},
    )


async def test_keycloak_tokens_are_accepted_and_other_audiences_refused(
    kc: Keycloak, served: tuple[Caseview, Party]
) -> None:
    cv, party = served

    # The integrations client (client credentials): its service account has `integration`.
    integration = await kc.client_token()
    assert claims(integration)["roles"] == ["integration"]
    assert claims(integration)["aud"] == "eenloket-caseview"
    assert (await read_party(cv, party, integration)).status_code == 200

    # A staff member (password grant of the development client): teams from groups.
    staff = await kc.user_token("kcc-medewerker")
    assert claims(staff)["teams"] == ["kcc"]
    assert claims(staff)["roles"] == ["kcc"]
    assert (await read_party(cv, party, staff)).status_code == 200
    principal = await cv.app.state.tokens.validate(staff)
    assert principal.teams == {"kcc"}
    assert principal.roles == {"kcc"}

    # Accepted, but the auditor's role reads the access log only.
    assert (await read_party(cv, party, await kc.user_token("auditor"))).status_code == 403

    # The DigiD stand-in: bsn and level of assurance in the token, as a broker gives them.
    resident = claims(await kc.user_token("inwoner-jansen"))
    assert resident["bsn"] == "999993653"
    assert resident["loa"] == "http://eidas.europa.eu/LoA/substantial"

    # Another client of the same realm, without caseview's audience mapper: refused.
    client_id, secret = await kc.create_client()
    try:
        elsewhere = await kc.client_token(client_id, secret)
        assert "eenloket-caseview" not in str(claims(elsewhere).get("aud"))
        refused = await read_party(cv, party, elsewhere)
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers["www-authenticate"]
    finally:
        await kc.delete_client(client_id)

    # The master realm's admin token (another issuer, another key) is refused too.
    assert (await read_party(cv, party, await kc.admin_token())).status_code == 401


async def test_a_rotated_realm_key_is_accepted_without_a_restart(
    kc: Keycloak, served: tuple[Caseview, Party]
) -> None:
    cv, party = served
    before = await kc.client_token()
    assert (await read_party(cv, party, before)).status_code == 200
    keys = cv.app.state.tokens.issuer_keys
    fetched = keys.fetches

    component = await kc.add_rsa_key()
    try:
        after = await kc.client_token()
        assert header(after)["kid"] != header(before)["kid"]

        async def accepted() -> bool:
            return (await read_party(cv, party, after)).status_code == 200

        # Within the 1 s refetch interval the new kid may be refused once; then it is fetched.
        await eventually(accepted, timeout=30, interval=0.5)
        assert keys.fetches - fetched <= 3  # a refetch for the new kid, not one per request
        assert (await read_party(cv, party, before)).status_code == 200  # old key still valid
    finally:
        await kc.remove_key(component)


async def test_the_console_and_resident_clients_log_in_with_pkce_through_the_login_form(
    kc: Keycloak, served: tuple[Caseview, Party]
) -> None:
    cv, party = served
    # Any loopback port (RFC 8252): the realm registers the URIs without one.
    console = "http://127.0.0.1:18003/console/callback"
    response = await kc.login_with_pkce("console", "evenementen-medewerker", console)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert claims(token)["azp"] == "console"
    assert claims(token)["teams"] == ["evenementen"]
    assert (await read_party(cv, party, token)).status_code == 200

    # A code exchanged with another verifier than the challenge's: no token.
    wrong = await kc.login_with_pkce(
        "console", "evenementen-medewerker", console, verifier="x" * 50
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    resident = await kc.login_with_pkce(
        "mijn-zaken", "ondernemer-bakkerij", "http://localhost:18004/mijn-zaken/"
    )
    assert resident.status_code == 200, resident.text
    assert claims(resident.json()["access_token"])["kvk"] == "90001354"
