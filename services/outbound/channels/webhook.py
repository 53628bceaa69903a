"""What the HTTP adapters (SMS, app, chat) share: the signature of a webhook body and how an
HTTP answer becomes ``Sent`` or a delivery error.

The signature (docs/outbound.md, "Signed webhooks"), the same both ways (ingest checks the
app backend's delivery reports the same way):

``X-Eenloket-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>`` and
``X-Eenloket-Timestamp: <Unix seconds when sent>``. A receiver recomputes the HMAC over the
bytes it received, compares in constant time, and refuses a timestamp older than five
minutes. The body carries the reply id as its event or message id, so a replayed or retried
request is recognised as the same message by the id, not by the timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from services.outbound.channels.base import PermanentDeliveryError, TemporaryDeliveryError

SIGNATURE_HEADER = "X-Eenloket-Signature"
TIMESTAMP_HEADER = "X-Eenloket-Timestamp"
_SCHEME = "sha256="

# 4xx that say "not now" rather than "never": retried like a 5xx (with the worker's back-off,
# so no retry storm); every other 4xx fails the reply at once.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Eenloket-Signature`` value of ``body``."""
    return _SCHEME + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The signature and timestamp headers of one request."""
    return {
        SIGNATURE_HEADER: signature(secret, body),
        TIMESTAMP_HEADER: str(int(time.time() if now is None else now)),
    }


def signature_valid(
    secret: bytes,
    body: bytes,
    header: str | None,
    timestamp: str | None,
    *,
    max_age: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` and ``timestamp`` is at most ``max_age`` seconds old
    (and not more than that ahead: clocks drift both ways)."""
    if not header or not timestamp or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > max_age:
        return False
    return hmac.compare_digest(header.encode(), signature(secret, body).encode())


async def post(
    client: httpx.AsyncClient, url: str, *, provider: str, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST ``content``; a timeout or an unreachable provider is worth another try."""
    try:
        return await client.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise TemporaryDeliveryError(f"{provider}: geen antwoord binnen de tijd") from exc
    except httpx.TransportError as exc:
        raise TemporaryDeliveryError(f"{provider}: niet bereikbaar ({type(exc).__name__})") from exc


def raise_for_status(response: httpx.Response, *, provider: str, reason: str | None = None) -> None:
    """Nothing for a 2xx; else the delivery error the status calls for, with ``reason`` (the
    provider's own words when it gave some) or the HTTP status line."""
    if response.is_success:
        return
    text = f"{provider}: {reason or f'HTTP {response.status_code} {response.reason_phrase}'}"
    if response.status_code >= 500 or response.status_code in RETRYABLE_CLIENT_ERRORS:
        raise TemporaryDeliveryError(text)
    raise PermanentDeliveryError(text)
