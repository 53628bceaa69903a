"""Who may report on our replies: signature checks of the delivery-report webhooks.

- **MessageBird** signs each status report with a JWT in ``MessageBird-Signature-JWT``
  (HS256 with the account's signing key; ``iss`` MessageBird, ``nbf``/``exp``, ``url_hash``
  = SHA-256 of the full URL it called, ``payload_hash`` = SHA-256 of the body, present
  exactly when there is a body). A report without a valid one is not MessageBird's.
- **The app backend** signs with ``X-Eenloket-Signature: sha256=<hex HMAC-SHA256(body)>``
  beside ``X-Eenloket-Timestamp`` (Unix seconds); older than five minutes is refused.

Failures say what is wrong in general terms only: a caller probing signatures learns
nothing about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

MESSAGEBIRD_HEADER = "MessageBird-Signature-JWT"
APP_SIGNATURE_HEADER = "X-Eenloket-Signature"
APP_TIMESTAMP_HEADER = "X-Eenloket-Timestamp"
# Clock skew tolerated on nbf/exp (MessageBird's own validators allow about a second).
JWT_LEEWAY = timedelta(seconds=5)
APP_MAX_AGE = timedelta(minutes=5)


class SignatureError(Exception):
    """The request is not signed by whom it claims (HTTP 401)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_messagebird(token: str | None, *, key: bytes, url: str, body: bytes) -> dict[str, Any]:
    """The verified claims of MessageBird's signature over ``url`` and ``body``."""
    if not token:
        raise SignatureError(f"the {MESSAGEBIRD_HEADER} header is missing")
    options: Any = {"require": ["iss", "nbf", "exp", "url_hash"], "verify_iat": False}
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer="MessageBird",
            options=options,
            leeway=JWT_LEEWAY,
        )
    except jwt.InvalidTokenError as exc:
        raise SignatureError(f"the signature is not valid ({type(exc).__name__})") from exc
    if not hmac.compare_digest(str(claims["url_hash"]), _sha256(url.encode())):
        raise SignatureError("the signature was made for another URL")
    payload_hash = claims.get("payload_hash")
    if bool(body) != bool(payload_hash):
        raise SignatureError("the signature does not cover the body as sent")
    if body and not hmac.compare_digest(str(payload_hash), _sha256(body)):
        raise SignatureError("the signature was made for another body")
    return claims


def sign_messagebird(key: bytes, url: str, body: bytes = b"", **claims: Any) -> str:
    """A ``MessageBird-Signature-JWT`` as MessageBird makes it (for stand-in providers
    and tests); ``claims`` override the defaults (``None`` leaves a claim out)."""
    now = int(time.time())
    made: dict[str, Any] = {
        "iss": "MessageBird",
        "nbf": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "url_hash": _sha256(url.encode()),
    }
    if body:
        made["payload_hash"] = _sha256(body)
    made |= claims
    return jwt.encode({k: v for k, v in made.items() if v is not None}, key, algorithm="HS256")


def sign_app(secret: bytes, body: bytes) -> str:
    """The ``X-Eenloket-Signature`` value of ``body`` (for the app backend, and tests)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_app(
    signature: str | None,
    timestamp: str | None,
    *,
    secret: bytes,
    body: bytes,
    now: datetime | None = None,
) -> None:
    """Refuse (``SignatureError``) unless the app backend signed ``body`` recently."""
    if not signature or not timestamp:
        raise SignatureError(
            f"the {APP_SIGNATURE_HEADER} and {APP_TIMESTAMP_HEADER} headers go together"
        )
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise SignatureError(f"{APP_TIMESTAMP_HEADER} is not a Unix time in seconds") from exc
    if abs((now or datetime.now(UTC)) - sent) > APP_MAX_AGE:
        raise SignatureError("the report is too old (or dated in the future)")
    if not hmac.compare_digest(signature.strip(), sign_app(secret, body)):
        raise SignatureError("the signature is not valid")
