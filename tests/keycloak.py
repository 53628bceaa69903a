"""A small client for the tests' Keycloak (deploy/local/keycloak.sh): tokens of the eenloket
realm's clients and users (also through the login form, with PKCE), and the few admin REST
calls the tests need (a client, a new key).

The realm is shared by the session: a test creates what it needs under random names and
removes it again. Users' tokens come from the realm's `dev-password-grant` client (the
resource-owner password grant, enabled for that development client only).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import uuid
from typing import Any, cast

import httpx

from tests.infra import KeycloakAddress

REALM = "eenloket"
INTEGRATIES_SECRET = "dev-integraties-secret"  # deploy/keycloak/eenloket-realm.json (dev only)


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the test reads what Keycloak put in it)."""
    payload = token.split(".")[1]
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(payload + "==")))


def header(token: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==")))


class Keycloak:
    def __init__(self, address: KeycloakAddress) -> None:
        self.address = address
        self.issuer = f"{address.url}/realms/{REALM}"
        self._http = httpx.AsyncClient(base_url=address.url, timeout=30.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _token(self, realm: str, form: dict[str, str]) -> str:
        response = await self._http.post(
            f"/realms/{realm}/protocol/openid-connect/token", data=form
        )
        response.raise_for_status()
        return cast(str, response.json()["access_token"])

    async def client_token(
        self, client_id: str = "integraties", secret: str = INTEGRATIES_SECRET
    ) -> str:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return await self._token(REALM, form)

    async def user_token(self, username: str) -> str:
        # The realm's development users have the password dev-<username>.
        form = {
            "grant_type": "password",
            "client_id": "dev-password-grant",
            "username": username,
            "password": f"dev-{username}",
        }
        return await self._token(REALM, form)

    async def login_with_pkce(
        self, client_id: str, username: str, redirect_uri: str, *, verifier: str | None = None
    ) -> httpx.Response:
        """The authorization code flow with PKCE S256 through Keycloak's own login form, as a
        browser does it; the token endpoint's response. `verifier` replaces the right one."""
        right = secrets.token_urlsafe(48)
        challenge = hashlib.sha256(right.encode()).digest()
        query = {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": redirect_uri,
            "state": uuid.uuid4().hex,
            "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        endpoint = f"/realms/{REALM}/protocol/openid-connect"
        form = await self._http.get(f"{endpoint}/auth", params=query)
        form.raise_for_status()
        found = re.search(r'<form[^>]*action="([^"]+)"', form.text)
        assert found, "no login form"
        # Keycloak's cookies are Secure; browsers send those to a loopback http origin, httpx
        # does not: hand them over explicitly.
        cookies = "; ".join(f"{k}={v}" for k, v in form.cookies.items())
        login = await self._http.post(
            html.unescape(found.group(1)),
            data={"username": username, "password": f"dev-{username}"},
            headers={"Cookie": cookies},
        )
        assert login.status_code == 302, login.text[-500:]
        location = httpx.URL(login.headers["location"])
        assert str(location).startswith(redirect_uri), location
        return await self._http.post(
            f"{endpoint}/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": location.params["code"],
                "redirect_uri": redirect_uri,
                "code_verifier": verifier or right,
            },
        )

    async def admin_token(self) -> str:
        """The master realm's admin (another issuer than the eenloket realm)."""
        form = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": self.address.admin_user,
            "password": self.address.admin_password,
        }
        return await self._token("master", form)

    async def _admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        admin = await self.admin_token()
        response = await self._http.request(
            method,
            f"/admin/realms/{REALM}{path}",
            json=body,
            headers={"Authorization": f"Bearer {admin}"},
        )
        response.raise_for_status()
        return response

    async def create_client(self, **representation: Any) -> tuple[str, str]:
        """A confidential client with a service account: (client id, secret)."""
        client_id = f"test-{uuid.uuid4().hex[:8]}"
        secret = uuid.uuid4().hex
        body = {
            "clientId": client_id,
            "secret": secret,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            **representation,
        }
        await self._admin("POST", "/clients", body)
        return client_id, secret

    async def delete_client(self, client_id: str) -> None:
        found = (await self._admin("GET", f"/clients?clientId={client_id}")).json()
        for client in found:
            await self._admin("DELETE", f"/clients/{client['id']}")

    async def add_rsa_key(self) -> str:
        """A new generated RSA key above every active one: Keycloak signs with it from now on.
        Returns the key provider's component id (for remove_key)."""
        keys = (await self._admin("GET", "/keys")).json()["keys"]
        top = max((int(k.get("providerPriority", 0)) for k in keys), default=100)
        realm_id = (await self._admin("GET", "")).json()["id"]
        response = await self._admin(
            "POST",
            "/components",
            {
                "name": f"rotated-{uuid.uuid4().hex[:8]}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {
                    "priority": [str(top + 1)],
                    "keySize": ["2048"],
                    "active": ["true"],
                    "enabled": ["true"],
                    "algorithm": ["RS256"],
                },
            },
        )
        return response.headers["Location"].rsplit("/", 1)[1]

    async def remove_key(self, component_id: str) -> None:
        await self._admin("DELETE", f"/components/{component_id}")

    async def copy_client(self, source: str, secret: str | None = None, **attributes: str) -> str:
        """A copy of the client ``source`` (its mappers, redirect URIs, PKCE) under a random
        id, with these client attributes changed (e.g. ``access.token.lifespan``); a
        confidential client's copy gets ``secret``."""
        (original,) = (await self._admin("GET", f"/clients?clientId={source}")).json()
        client_id = f"test-{source}-{uuid.uuid4().hex[:8]}"
        body = {k: v for k, v in original.items() if k not in ("id", "clientId")}
        body["clientId"] = client_id
        if secret is not None:
            body["secret"] = secret
        body["attributes"] = {**original.get("attributes", {}), **attributes}
        body["protocolMappers"] = [
            {k: v for k, v in m.items() if k != "id"} for m in original.get("protocolMappers", [])
        ]
        await self._admin("POST", "/clients", body)
        return client_id

    async def end_sessions(self, username: str) -> None:
        """Log the user out everywhere (as an administrator or an idle timeout would)."""
        (user,) = (await self._admin("GET", f"/users?username={username}&exact=true")).json()
        await self._admin("POST", f"/users/{user['id']}/logout")
