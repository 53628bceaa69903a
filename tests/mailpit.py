"""A small client for Mailpit's REST API (deploy/local/mailpit.sh): what arrived, read by a test.

Mailpit is shared by the session, so a test never lists or deletes everything: it finds its
own mail by Message-ID (every test's ids are random) and waits for it with a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import httpx

from tests.infra import MailpitAddress
from tests.support import eventually


@dataclass(frozen=True)
class Mail:
    """One stored message: Mailpit's summary, its headers (names lower-cased) and raw bytes."""

    id: str
    summary: dict[str, Any]
    headers: dict[str, list[str]]
    raw: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def parsed(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


class Mailpit:
    def __init__(self, address: MailpitAddress) -> None:
        self.address = address
        self._http = httpx.AsyncClient(base_url=address.http, timeout=10.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Mailpit:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, **params: str | int) -> httpx.Response:
        response = await self._http.get(path, params=params)
        response.raise_for_status()
        return response

    async def messages(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest messages' summaries (ID, MessageID, From, To, Subject, ...)."""
        body = (await self._get("/api/v1/messages", limit=limit)).json()
        return cast(list[dict[str, Any]], body["messages"])

    async def search_message_id(self, message_id: str) -> list[dict[str, Any]]:
        """Summaries of every stored message with this Message-ID (with or without <>)."""
        bare = message_id.strip().removeprefix("<").removesuffix(">")
        body = (await self._get("/api/v1/search", query=f'message-id:"{bare}"')).json()
        return cast(list[dict[str, Any]], body["messages"])

    async def read(self, mailpit_id: str) -> Mail:
        summary = (await self._get(f"/api/v1/message/{mailpit_id}")).json()
        headers = (await self._get(f"/api/v1/message/{mailpit_id}/headers")).json()
        raw = (await self._get(f"/api/v1/message/{mailpit_id}/raw")).content
        return Mail(
            id=mailpit_id,
            summary=summary,
            headers={name.lower(): values for name, values in headers.items()},
            raw=raw,
        )

    async def wait_for(
        self, message_id: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[Mail]:
        """Wait until at least ``count`` messages with this Message-ID arrived; read them."""

        async def found() -> list[dict[str, Any]] | None:
            hits = await self.search_message_id(message_id)
            return hits if len(hits) >= count else None

        hits = await eventually(found, timeout=timeout)
        return [await self.read(hit["ID"]) for hit in hits]
