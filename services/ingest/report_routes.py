"""Delivery-report webhooks: what SMS and app providers say about the replies we sent.

``/v1/delivery-reports/messagebird`` (GET, as MessageBird sends status reports by default,
and POST) and ``/v1/delivery-reports/app`` (POST). Not the channels' API keys: each
caller proves itself by its signature (services/ingest/webhook_signatures.py), 401
otherwise. A valid report becomes ``DeliveryReportReceived`` on the delivery-reports topic:
202 only once Kafka acknowledged it, 503 with ``Retry-After`` when it did not (the
provider retries). A report that changes nothing (an SMS still ``buffered``) is 202 too,
published nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.ingest.delivery_reports import Outcome, ReportPublisher, count
from services.ingest.webhook_signatures import (
    APP_SIGNATURE_HEADER,
    APP_TIMESTAMP_HEADER,
    MESSAGEBIRD_HEADER,
    SignatureError,
    verify_app,
    verify_messagebird,
)
from shared.contracts.outbound import DeliveryReportReceived, ReplyChannel, ReplyStatus
from shared.http import PROBLEM_RESPONSES, ProblemError
from shared.kafka.producer import BrokerUnavailableError

router = APIRouter(prefix="/v1/delivery-reports", tags=["delivery reports"])

# MessageBird's SMS statuses (its "Handle a status report"): final ones change the reply.
_MESSAGEBIRD_FINAL = {
    "delivered": ReplyStatus.DELIVERED,
    "delivery_failed": ReplyStatus.FAILED,
    "expired": ReplyStatus.FAILED,
}
_TEXT_FIELD = 500


class ReportAnswer(BaseModel):
    status: Literal["accepted", "ignored"]
    event_id: uuid.UUID | None = Field(
        default=None, description="The report's event on the delivery-reports topic"
    )


class AppDeliveryReport(BaseModel):
    """The app backend's word on a reply it was given (the CloudEvent we sent it)."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(
        min_length=1, max_length=200, description="The id of the CloudEvent the reply came in"
    )
    token: str | None = Field(default=None, max_length=64)
    status: Literal["delivered", "failed"]
    reason: str | None = Field(default=None, max_length=2000)
    at: datetime | None = None


def _problem(description: str) -> dict[str, Any]:
    return PROBLEM_RESPONSES[400] | {"description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    401: _problem("Signature missing, not valid, or too old"),
    422: _problem("The report is not one this route reads"),
}


async def _signed_body(
    request: Request, channel: ReplyChannel, verify: Callable[[bytes, bytes], object]
) -> bytes:
    """The body, once ``verify(key, body)`` passed with the channel's key; else 401."""
    body = await request.body()
    kind = "messagebird" if channel is ReplyChannel.SMS else "app"
    key: bytes | None = request.app.state.settings.webhook_key(kind)
    try:
        if key is None:
            raise SignatureError(f"no {kind} webhook key is configured")
        verify(key, body)
    except SignatureError as exc:
        count(channel, Outcome.REFUSED)
        raise ProblemError(401, "Signature not valid", f"{exc}.") from exc
    return body


async def _publish(request: Request, report: DeliveryReportReceived, seen_as: str) -> ReportAnswer:
    publisher: ReportPublisher = request.app.state.reports
    try:
        event_id = await publisher.publish(report, seen_as=seen_as)
    except BrokerUnavailableError as exc:
        raise ProblemError(
            503,
            "Message queue unavailable",
            "The report was not accepted; send it again after the Retry-After delay.",
            headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)},
        ) from exc
    return ReportAnswer(status="accepted", event_id=event_id)


def _signed_url(request: Request) -> str:
    """The full URL MessageBird called, as its signature's ``url_hash`` covers it."""
    base = request.app.state.settings.messagebird_report_url or str(request.url.replace(query=""))
    query = request.url.query
    return f"{base}?{query}" if query else base


def _messagebird_fields(request: Request, body: bytes) -> dict[str, str]:
    """The report's parameters: the query string, and a POST's form or JSON body."""
    fields = dict(request.query_params)
    if not body:
        return fields
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == "application/json":
            parsed = orjson.loads(body)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            fields |= {k: str(v) for k, v in parsed.items() if isinstance(v, str | int | float)}
        else:
            fields |= dict(parse_qsl(body.decode(), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422, "Report not readable", "The body is no form or JSON object."
        ) from exc
    return fields


def _text(value: str | None) -> str | None:
    return value.strip()[:_TEXT_FIELD] or None if value else None


def _messagebird_route(method: str) -> dict[str, Any]:
    return {
        "path": "/messagebird",
        "methods": [method],
        "operation_id": f"reportMessageBird{method.title()}",
        "status_code": status.HTTP_202_ACCEPTED,
        "responses": RESPONSES,
        "summary": f"Accept a MessageBird SMS status report by {method} "
        "(signed: MessageBird-Signature-JWT)",
    }


@router.api_route(**_messagebird_route("GET"))
@router.api_route(**_messagebird_route("POST"))
async def messagebird_report(
    request: Request,
    signature: Annotated[str | None, Header(alias=MESSAGEBIRD_HEADER)] = None,
) -> ReportAnswer:
    url = _signed_url(request)
    body = await _signed_body(
        request,
        ReplyChannel.SMS,
        lambda key, body: verify_messagebird(signature, key=key, url=url, body=body),
    )
    fields = _messagebird_fields(request, body)
    message_id, sms_status = _text(fields.get("id")), (fields.get("status") or "").strip().lower()
    if message_id is None or not sms_status:
        raise ProblemError(422, "Report incomplete", "A status report names its 'id' and 'status'.")
    next_status = _MESSAGEBIRD_FINAL.get(sms_status)
    if next_status is None:  # scheduled, sent, buffered: on its way, nothing changes
        count(ReplyChannel.SMS, Outcome.IGNORED)
        return ReportAnswer(status="ignored")
    reasons = [fields.get("statusReason"), fields.get("statusErrorCode")]
    reason = " ".join(r.strip() for r in reasons if r and r.strip()) or None
    report = DeliveryReportReceived(
        channel=ReplyChannel.SMS,
        token=_text(fields.get("reference")),
        reference=message_id,
        status=next_status,
        reason=_text(reason) if next_status is ReplyStatus.FAILED else None,
        at=datetime.now(UTC),
    )
    when = fields.get("statusDatetime", "")
    return await _publish(request, report, f"{message_id}\x00{sms_status}\x00{when}")


@router.post(
    "/app",
    operation_id="reportApp",
    status_code=status.HTTP_202_ACCEPTED,
    responses=RESPONSES,
    summary="Accept the app backend's delivery report (signed: X-Eenloket-Signature)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AppDeliveryReport.model_json_schema()}},
        }
    },
)
async def app_report(
    request: Request,
    signature: Annotated[str | None, Header(alias=APP_SIGNATURE_HEADER)] = None,
    timestamp: Annotated[str | None, Header(alias=APP_TIMESTAMP_HEADER)] = None,
) -> ReportAnswer:
    body = await _signed_body(
        request,
        ReplyChannel.APP,
        lambda key, body: verify_app(signature, timestamp, secret=key, body=body),
    )
    try:
        sent = AppDeliveryReport.model_validate_json(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        raise ProblemError(
            422, "Report not valid", f"These fields are missing or not valid: {', '.join(fields)}."
        ) from exc
    report = DeliveryReportReceived(
        channel=ReplyChannel.APP,
        token=sent.token,
        reference=sent.reference,
        status=ReplyStatus(sent.status),
        reason=sent.reason,
        at=sent.at or datetime.now(UTC),
    )
    return await _publish(request, report, f"{sent.reference}\x00{sent.status}")
