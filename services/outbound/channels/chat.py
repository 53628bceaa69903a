"""Replies into a live chat session, through the chat platform's webhook.

The shape is ours (the platform's integration implements it; docs/outbound.md):

``POST {url}`` with ``Content-Type: application/json``, signed as every webhook here
(``webhook.py``: ``X-Eenloket-Signature``, ``X-Eenloket-Timestamp``), and the body
``{"session": <chat session id>, "message_id": <reply id>, "text": <text>}``. ``message_id``
is the reply id, so the platform shows a retried reply once. The platform answers:

- ``200``/``201``/``202`` (optionally ``{"message_id": …}``): posted into the session;
- ``410 Gone``: the session has ended (the resident left): ``SessionEndedError``, so the
  worker can fall back to another channel;
- another 4xx: the reply fails with the platform's ``detail``; a 5xx or a timeout: again later.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson

from services.outbound.channels import webhook
from services.outbound.channels.app import problem_reason
from services.outbound.channels.base import PermanentDeliveryError, Sent
from shared.contracts.outbound import SESSION_ENDED, DeliverReply

PROVIDER = "chatplatform"


class SessionEndedError(PermanentDeliveryError):
    """The chat session is over: this channel cannot reach the resident any more."""


@dataclass(frozen=True)
class ChatWebhookSettings:
    url: str
    secret: bytes
    timeout_seconds: float = 10.0


class ChatAdapter:
    """Posts a reply into the resident's chat session."""

    def __init__(
        self, settings: ChatWebhookSettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None

    async def send(self, request: DeliverReply) -> Sent:
        body = orjson.dumps(
            {"session": request.address, "message_id": str(request.reply_id), "text": request.text}
        )
        headers = {
            "Content-Type": "application/json",
            **webhook.signed_headers(self._settings.secret, body),
        }
        response = await webhook.post(
            self._client, self._settings.url, provider=PROVIDER, content=body, headers=headers
        )
        if response.status_code == httpx.codes.GONE:
            raise SessionEndedError(f"{PROVIDER}: {SESSION_ENDED}")  # the router falls back on it
        webhook.raise_for_status(response, provider=PROVIDER, reason=problem_reason(response))
        return Sent(reference=str(request.reply_id))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
