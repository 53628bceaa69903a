"""Replies in the municipality's app: a signed webhook to its backend, CloudEvents HTTP binding.

``POST {url}`` with ``Content-Type: application/cloudevents+json`` (structured mode) and the
body one CloudEvent (``shared/envelope.py``'s writer):

- ``id`` = the reply id, so a retry (after a timeout, after a crash) is the *same* event and
  the backend drops it as a duplicate; ``type`` = ``nl.eenloket.reply.app-message``;
  ``source`` = our NL GOV source URN; ``subject`` = the case id; ``time`` = when staff asked;
- ``data`` = ``{reply_id, case_id, case_number, recipient, subject, text}``; ``recipient`` is
  the resident's login identifier the app backend knows them by (``RECIPIENT_KIND``).

Signed as every webhook here (``webhook.py``): ``X-Eenloket-Signature: sha256=<hex>`` over the
raw body and ``X-Eenloket-Timestamp``. A 2xx is ``sent`` (the backend's report of reading
comes later, to ingest); a 4xx fails the reply with the backend's problem ``detail`` or
``title`` when it sends RFC 9457 JSON; a 5xx or a timeout is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from services.outbound.channels import webhook
from services.outbound.channels.base import Sent
from shared.contracts.outbound import DeliverReply
from shared.envelope import CONTENT_TYPE, envelope_json

PROVIDER = "app-backend"
EVENT_TYPE = "nl.eenloket.reply.app-message"


@dataclass(frozen=True)
class AppWebhookSettings:
    url: str
    secret: bytes
    # ``source_urn(oin, "eenloket-outbound")``: the NL GOV source of the events we send.
    source: str
    timeout_seconds: float = 10.0


def cloudevent(settings: AppWebhookSettings, request: DeliverReply) -> dict[str, Any]:
    """The structured-mode event of one reply."""
    return envelope_json(
        source=settings.source,
        type=EVENT_TYPE,
        subject=str(request.case_id),
        event_id=request.reply_id,
        time=request.requested_at,
        data={
            "reply_id": str(request.reply_id),
            "case_id": str(request.case_id),
            "case_number": request.case_number,
            "recipient": request.address,
            "subject": request.subject,
            "text": request.text,
        },
    )


def problem_reason(response: httpx.Response) -> str | None:
    """The ``detail`` (else ``title``) of an RFC 9457 answer, if the backend sent one."""
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(problem, dict):
        return None
    reason = problem.get("detail") or problem.get("title")
    return str(reason)[:500] if reason else None


class AppAdapter:
    """Sends a reply as a CloudEvent to the municipality's app backend."""

    def __init__(
        self, settings: AppWebhookSettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None

    async def send(self, request: DeliverReply) -> Sent:
        body = orjson.dumps(cloudevent(self._settings, request))
        headers = {
            "Content-Type": CONTENT_TYPE,
            **webhook.signed_headers(self._settings.secret, body),
        }
        response = await webhook.post(
            self._client, self._settings.url, provider=PROVIDER, content=body, headers=headers
        )
        webhook.raise_for_status(response, provider=PROVIDER, reason=problem_reason(response))
        return Sent(reference=str(request.reply_id))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
