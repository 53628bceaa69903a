"""A delivery's status as the event the router records: one ``ReplyStatusReported`` outbox
row (key: the reply id), written in the transaction that changed the delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.outbound.metrics import DELIVERIES
from shared.contracts.outbound import DeliverReply, ReplyStatus, ReplyStatusReported
from shared.envelope import envelope_json
from shared.outbox import outbox_row


def status_row(
    request: DeliverReply,
    status: ReplyStatus,
    *,
    source: str,
    topic: str,
    at: datetime,
    reason: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """The outbox row reporting ``status`` of ``request``'s reply (and counts it)."""
    DELIVERIES.labels(request.channel.value, status.value).inc()
    report = ReplyStatusReported(
        reply_id=request.reply_id,
        case_id=request.case_id,
        party_id=request.party_id,
        channel=request.channel,
        status=status,
        reason=reason,
        reference=reference,
        at=at,
    )
    envelope = envelope_json(
        source=source,
        type=report.TYPE,
        subject=str(request.reply_id),
        data=report.model_dump(mode="json"),
        time=at,
    )
    return outbox_row(topic=topic, aggregatetype="reply", event=envelope, created_at=at)
