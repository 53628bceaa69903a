"""Delivery reports onto ``omni.delivery-reports.v1``: a provider's word on a reply we sent.

Ingest only normalises (a DSN at the SMTP receiver, MessageBird's signed status report,
the app backend's signed report) into ``DeliveryReportReceived``; the outbound service
knows its tokens and references and decides the reply's next status. Like every channel,
the sender gets its "accepted" only after Kafka acknowledged (``BrokerUnavailableError``
otherwise: SMTP 451, HTTP 503), so a report is never lost, only sent again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import Counter

from shared.contracts.outbound import DeliveryReportReceived
from shared.envelope import envelope_json
from shared.kafka.producer import ResilientProducer, publish

log = logging.getLogger(__name__)

# The namespace of report event ids: a provider that sends the same report twice (a retry
# after a lost answer) makes one event, which the outbound service applies once.
_REPORT_NS = uuid.UUID("0c8e3f9a-41d2-4b7e-8f6a-5d9c2e1b7a30")


class Outcome(StrEnum):
    PUBLISHED = "published"  # on the topic: the reply's status may change
    DELAYED = "delayed"  # a DSN saying the server still tries: nothing changes
    IGNORED = "ignored"  # a report that changes nothing (relayed; an SMS "buffered")
    NOT_A_REPORT = "not-a-report"  # mail to a bounce address that is no DSN: dropped
    REFUSED = "refused"  # a webhook call without a valid signature (401)


REPORTS = Counter(
    "eenloket_ingest_delivery_reports_total",
    "Delivery reports received, by what became of them",
    ["channel", "outcome"],
)


def report_key(report: DeliveryReportReceived) -> bytes:
    """The record key: a hash of what ties the report to its reply (the reports of one
    reply share a partition), else random. Never an address or a phone number."""
    tie = report.token or report.reference
    if tie is None:
        return uuid.uuid4().bytes
    return hashlib.sha256(f"{report.channel}:{tie}".encode()).hexdigest()[:32].encode()


@dataclass(frozen=True)
class ReportPublisher:
    producer: ResilientProducer
    topic: str
    source: str
    kafka_timeout: float

    async def publish(self, report: DeliveryReportReceived, *, seen_as: str) -> uuid.UUID:
        """Publish once Kafka acknowledges; ``seen_as`` is what makes two deliveries of
        the report one (the DSN's bytes, the provider's report id and status time)."""
        event_id = uuid.uuid5(_REPORT_NS, f"{report.channel}\x00{seen_as}")
        event = envelope_json(
            source=self.source,
            type=DeliveryReportReceived.TYPE,
            subject=str(event_id),
            data=report.model_dump(mode="json"),
            event_id=event_id,
            time=report.at,
        )
        await publish(
            self.producer,
            self.topic,
            key=report_key(report),
            event=event,
            timeout=self.kafka_timeout,
        )
        count(report.channel, Outcome.PUBLISHED)
        log.info(
            "delivery report published",
            extra={"event_id": str(event_id), "channel": report.channel, "reason": report.status},
        )
        return event_id


def count(channel: str, outcome: Outcome) -> None:
    REPORTS.labels(channel, outcome).inc()
