"""The client of the municipality's notification component (Notificaties API 1.0): the ZGW
JWT Open Notificaties' clients authenticate with, the kanalen registered on start, a
notification sent."""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx
import jwt

from services.notifications.config import NotificationsSettings
from services.notifications.mapping import KANALEN


class SendError(Exception):
    """``permanent``: sending the same request again cannot succeed (the component refused
    its content); otherwise it is retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def zgw_token(client_id: str, secret: str, now: float | None = None) -> str:
    """A ZGW JWT (HS256): ``iss`` and ``client_id`` are the client id, ``iat`` now; the
    component looks the secret up by client id and checks the signature."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "iat": issued,
        "client_id": client_id,
        "user_id": client_id,
        "user_representation": "Eenloket",
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def outcome_of(response: httpx.Response) -> SendError | None:
    """None for a 2xx. A 4xx other than 401/403/408/409/429 means the component refused
    the notification itself: permanent. Credentials (401/403) are retried, so fixing the
    component's Applicatie delivers what waited; 5xx and the rest are temporary."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 409, 429)
    return SendError(f"HTTP {status}", permanent=permanent)


class Sender(Protocol):
    """What the worker needs of the component (``Nrc``; tests give a fake)."""

    async def register_kanalen(self) -> list[str]: ...

    async def send(self, body: dict[str, Any], headers: dict[str, str]) -> None: ...


class Nrc:
    def __init__(self, settings: NotificationsSettings, client: httpx.AsyncClient | None = None):
        assert settings.nrc_url is not None
        self._api = settings.nrc_url.rstrip("/") + "/api/v1"
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.send_timeout_seconds)

    def _headers(self) -> dict[str, str]:
        s = self._settings
        token = zgw_token(s.nrc_client_id, s.nrc_secret.get_secret_value())
        return {"Authorization": f"Bearer {token}", "Accept-Crs": "EPSG:4326"}

    async def register_kanalen(self) -> list[str]:
        """Each kanaal that does not exist yet is created (GET by naam, then POST): safe on
        every start and from every replica. Returns the kanalen it created."""
        created = []
        for naam, filters in KANALEN.items():
            found = await self._client.get(
                f"{self._api}/kanaal", params={"naam": naam}, headers=self._headers()
            )
            found.raise_for_status()
            if any(k.get("naam") == naam for k in found.json()):
                continue
            body = {
                "naam": naam,
                "documentatieLink": self._settings.kanaal_documentation_url,
                "filters": list(filters),
            }
            made = await self._client.post(
                f"{self._api}/kanaal", json=body, headers=self._headers()
            )
            made.raise_for_status()
            created.append(naam)
        return created

    async def send(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            response = await self._client.post(
                f"{self._api}/notificaties", json=body, headers={**self._headers(), **headers}
            )
        except httpx.HTTPError as exc:
            raise SendError(type(exc).__name__) from exc
        error = outcome_of(response)
        if error is not None:
            raise error

    async def aclose(self) -> None:
        await self._client.aclose()
