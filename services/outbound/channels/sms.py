"""SMS through MessageBird's REST API (a Dutch provider, Amsterdam; docs/outbound.md says why).

One reply is ``POST {base_url}/messages`` with ``Authorization: AccessKey <key>`` and the JSON
``originator, recipients, body, reference, reportUrl, datacoding``; MessageBird answers
``201 Created`` with the message object, whose ``id`` is the reference we keep. Errors come as
``{"errors": [{"code", "description", "parameter"}]}`` (422 for a bad parameter, 401 for a
wrong key): a 4xx fails the reply with MessageBird's description, a 5xx or a timeout is tried
again.

``reference`` is the reply's token (an HMAC of the reply id): MessageBird sends a status report
only for a message with a reference, and returns it in every report (to ``reportUrl``, a GET
with ``id, reference, recipient, status, statusDatetime, statusReason, statusErrorCode``,
signed with the ``MessageBird-Signature-JWT`` header; ingest receives it). Neither the case
number nor the phone number is ever a reference.

MessageBird has no idempotency key: a retry after a crash between its 201 and our record of it
sends the SMS twice, with the same reference (the window the issue allows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from services.outbound.channels import webhook
from services.outbound.channels.base import PermanentDeliveryError, Sent
from shared.contracts.outbound import DeliverReply

PROVIDER = "MessageBird"

# The GSM 03.38 basic set and its extension table (each extension character costs two).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class MessageBirdSettings:
    access_key: str
    # Up to 11 letters/digits, or a phone number; the municipality's registered sender name.
    originator: str
    # Where MessageBird sends status reports: ingest's ``/v1/delivery-reports/messagebird``.
    report_url: str
    base_url: str = "https://rest.messagebird.com"
    timeout_seconds: float = 10.0


def sms_parts(text: str) -> int:
    """How many SMS MessageBird sends (and bills) for ``text``; nothing is cut off.

    With ``datacoding: auto`` a text of GSM 03.38 characters only is sent as GSM-7: one SMS up
    to 160 characters, else parts of 153 (the rest carries the concatenation header); one
    character outside that set (ë, ï, “, an emoji) makes the whole text UCS-2: 70 in one SMS,
    else parts of 67. A Dutch text with an "ë" therefore costs about twice as much; the
    templates are written to avoid it where B1 allows."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENSION for char in text):
        units = len(text) + sum(char in _GSM_EXTENSION for char in text)
        single, part = 160, 153
    else:
        # UTF-16 code units: a character outside the BMP (an emoji) takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


def msisdn(address: str) -> str:
    """MessageBird's recipient: the E.164 number without ``+`` (``31612345678``)."""
    digits = address.strip().removeprefix("+")
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise PermanentDeliveryError(f"{PROVIDER}: geen geldig telefoonnummer (E.164)")
    return digits


def request_body(settings: MessageBirdSettings, request: DeliverReply) -> dict[str, Any]:
    """The JSON of ``POST /messages`` for one reply (the subject is not part of an SMS)."""
    return {
        "originator": settings.originator,
        "recipients": [msisdn(request.address)],
        "body": request.text,
        "reference": request.token,
        "reportUrl": settings.report_url,
        "datacoding": "auto",
    }


def error_description(response: httpx.Response) -> str | None:
    """MessageBird's own words from ``{"errors": [{code, description, parameter}]}``."""
    try:
        errors = orjson.loads(response.content).get("errors")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(errors, list) or not errors:
        return None
    described = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        text = str(error.get("description") or "onbekende fout")
        if error.get("parameter"):
            text += f" (parameter {error['parameter']})"
        if error.get("code") is not None:
            text += f" [code {error['code']}]"
        described.append(text)
    return "; ".join(described) or None


class SmsAdapter:
    """Sends a reply as an SMS through MessageBird."""

    def __init__(
        self, settings: MessageBirdSettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._url = settings.base_url.rstrip("/") + "/messages"
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None

    async def send(self, request: DeliverReply) -> Sent:
        body = orjson.dumps(request_body(self._settings, request))
        headers = {
            "Authorization": f"AccessKey {self._settings.access_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        response = await webhook.post(
            self._client, self._url, provider=PROVIDER, content=body, headers=headers
        )
        webhook.raise_for_status(response, provider=PROVIDER, reason=error_description(response))
        try:
            return Sent(reference=str(orjson.loads(response.content)["id"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            # Taken (2xx) without a readable id: it is sent all the same, and its status
            # reports still find it by the token in ``reference``.
            return Sent(reference=request.token)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
