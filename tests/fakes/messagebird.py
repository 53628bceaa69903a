"""A MessageBird stand-in: its SMS API's documented request and response shapes, on real HTTP.

``POST /messages`` (``Authorization: AccessKey <key>``, JSON ``originator, recipients, body,
reference, reportUrl, datacoding``) answers ``201`` with the message object (``id``, ``href``,
``recipients.items[].status = "sent"`` …), or MessageBird's errors
``{"errors": [{"code", "description", "parameter"}]}``: 401 with code 2 for a wrong key, 422
with code 9 for a missing parameter, and whatever ``fail_next`` scripts.

``status_report_url`` and ``send_status_report`` play MessageBird's side of a status report:
a GET to the message's ``reportUrl`` with ``id, reference, recipient, status, statusDatetime``
(and ``statusReason``, ``statusErrorCode`` for a failure), signed with the
``MessageBird-Signature-JWT`` header: an HS256 JWT (PyJWT) with the signing key and the
claims MessageBird's own SDKs verify: ``iss = "MessageBird"``, ``nbf``, ``exp``, ``jti``,
``url_hash`` (SHA-256 hex of the full URL) and, when there is a body, ``payload_hash``
(SHA-256 hex of the body).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SIGNATURE_HEADER = "MessageBird-Signature-JWT"
_REQUIRED = ("originator", "recipients", "body")


def signature_jwt(
    signing_key: str, url: str, body: bytes | None = None, *, now: float | None = None
) -> str:
    """The ``MessageBird-Signature-JWT`` of a request to ``url`` (with ``body``, if any)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": "MessageBird",
        "nbf": issued,
        "exp": issued + 300,
        "jti": uuid.uuid4().hex,
        "url_hash": hashlib.sha256(url.encode()).hexdigest(),
    }
    if body:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    return jwt.encode(claims, signing_key, algorithm="HS256")


def errors(status: int, code: int, description: str, parameter: str | None = None) -> Response:
    return JSONResponse(
        {"errors": [{"code": code, "description": description, "parameter": parameter}]},
        status_code=status,
    )


@dataclass(frozen=True)
class Message:
    """One message as MessageBird keeps it."""

    id: str
    request: dict[str, Any]
    created: datetime

    @property
    def recipient(self) -> str:
        return str(self.request["recipients"][0])


class MessageBird:
    """The fake; ``app`` is its ASGI app (serve it with ``tests.fakes.webhooks.serving``)."""

    def __init__(self, access_key: str, signing_key: str) -> None:
        self.access_key = access_key
        self.signing_key = signing_key
        self.messages: list[Message] = []
        self._answers: deque[Response] = deque()
        self.app = Starlette(routes=[Route("/messages", self._create, methods=["POST"])])

    def fail_next(
        self, status: int, code: int, description: str, parameter: str | None = None
    ) -> None:
        """The next ``POST /messages`` answers this error (and sends nothing)."""
        self._answers.append(errors(status, code, description, parameter))

    async def _create(self, request: Request) -> Response:
        if self._answers:
            return self._answers.popleft()
        if request.headers.get("authorization") != f"AccessKey {self.access_key}":
            return errors(401, 2, "Request not allowed (incorrect access_key)", "access_key")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return errors(422, 10, "invalid JSON")
        for name in _REQUIRED:
            if not body.get(name):
                return errors(422, 9, f"{name} is required", name)
        message = Message(uuid.uuid4().hex, body, datetime.now(UTC).replace(microsecond=0))
        self.messages.append(message)
        return JSONResponse(self._resource(request, message), status_code=201)

    @staticmethod
    def _resource(request: Request, message: Message) -> dict[str, Any]:
        created = message.created.isoformat()
        body = message.request
        return {
            "id": message.id,
            "href": f"{str(request.base_url).rstrip('/')}/messages/{message.id}",
            "direction": "mt",
            "type": "sms",
            "originator": body["originator"],
            "body": body["body"],
            "reference": body.get("reference"),
            "validity": None,
            "gateway": 10,
            "typeDetails": {},
            "datacoding": body.get("datacoding", "plain"),
            "mclass": 1,
            "scheduledDatetime": None,
            "createdDatetime": created,
            "recipients": {
                "totalCount": len(body["recipients"]),
                "totalSentCount": len(body["recipients"]),
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": 0,
                "items": [
                    {"recipient": int(number), "status": "sent", "statusDatetime": created}
                    for number in body["recipients"]
                ],
            },
        }

    def status_report_url(
        self,
        message: Message,
        status: str = "delivered",
        *,
        reason: str | None = None,
        error_code: int | None = None,
        report_url: str | None = None,
    ) -> str:
        """The URL MessageBird calls for one status of ``message`` (``delivered``,
        ``delivery_failed``, ``expired``, ``buffered`` …)."""
        query: dict[str, str] = {
            "id": message.id,
            "reference": str(message.request.get("reference") or ""),
            "recipient": message.recipient,
            "status": status,
            "statusDatetime": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        if reason is not None:
            query["statusReason"] = reason
        if error_code is not None:
            query["statusErrorCode"] = str(error_code)
        base = report_url or message.request["reportUrl"]
        return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"

    async def send_status_report(
        self, url: str, *, signing_key: str | None = None
    ) -> httpx.Response:
        """Call a report URL (``status_report_url``) as MessageBird does: a signed GET;
        ``signing_key`` other than ours makes a forged report."""
        token = signature_jwt(signing_key or self.signing_key, url)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(url, headers={SIGNATURE_HEADER: token})
