"""The outbound service on a real broker and database: send requests from the topic through a
fake adapter to statuses on the status topic; retries, permanent failures, bounces by token,
a request delivered twice sent once; and its own e-mail adapter sending a reply with an
attachment from the attachment store to Mailpit."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.outbound.bootstrap import create_app
from services.outbound.channels.email import EmailSettings
from services.outbound.orm import consumer_offsets, deliveries
from shared.attachments import Blob, LocalAttachmentStore
from shared.contracts.base import Event, to_cloudevent
from shared.contracts.outbound import (
    DeliveryReportReceived,
    ReplyChannel,
    ReplyStatus,
    ReplyStatusReported,
)
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent, source_urn
from tests.apps import serve
from tests.infra import MailpitAddress
from tests.mailpit import Mailpit
from tests.support import FakeAdapter, deliver_reply, eventually, outbound_settings, read_topic
from tests.unit.test_outbound_email import attachment, reply

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROUTER = source_urn("00000000000000000000", "eenloket-router")
INGEST = source_urn("00000000000000000000", "eenloket-ingest")


@contextlib.asynccontextmanager
async def outbound(
    kafka_bootstrap: str, url: str, topics: Any, adapter: FakeAdapter
) -> AsyncIterator[Any]:
    settings = outbound_settings(kafka_bootstrap, url, topics)
    app = create_app(settings, adapters={ReplyChannel.EMAIL: adapter})
    async with serve(app) as client:
        yield client


async def publish(producer: AIOKafkaProducer, topic: str, event: CloudEvent, key: uuid.UUID) -> int:
    sent = await producer.send_and_wait(topic, event.to_json(), key=str(key).encode())
    return int(sent.offset)


def envelope(payload: Event, subject: uuid.UUID, source: str = ROUTER) -> CloudEvent:
    return to_cloudevent(payload, source=source, subject=subject)


async def statuses(kafka_bootstrap: str, topic: str, expect: int) -> list[ReplyStatusReported]:
    records = await read_topic(kafka_bootstrap, topic, expect=expect)
    reports = []
    for record in records:
        event = CloudEvent.from_json(record.value)
        assert event.type == ReplyStatusReported.TYPE
        report = ReplyStatusReported.model_validate(event.data)
        assert record.key == str(report.reply_id).encode()  # key: the reply id
        reports.append(report)
    return reports


async def test_sent_retried_and_failed(
    kafka_bootstrap: str, db_urls: dict[str, str], topics: Any, producer: AIOKafkaProducer
) -> None:
    adapter = FakeAdapter()
    ok, flaky, refused = deliver_reply(), deliver_reply(), deliver_reply()
    unset = deliver_reply(ReplyChannel.SMS)  # no SMS adapter here
    adapter.tell(flaky.reply_id, temporary=2)
    adapter.tell(refused.reply_id, permanent="550 mailbox bestaat niet")
    async with outbound(kafka_bootstrap, db_urls["outbound"], topics, adapter) as client:
        for request in (ok, flaky, refused, unset):
            await publish(
                producer, topics.outbound, envelope(request, request.reply_id), request.reply_id
            )
        reports = await statuses(kafka_bootstrap, topics.outbound_status, expect=4)
        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics")).text
    by_reply = {r.reply_id: r for r in reports}
    assert len(by_reply) == 4
    assert by_reply[ok.reply_id].status == ReplyStatus.SENT
    assert by_reply[ok.reply_id].reference == f"<{ok.reply_id}@test.example>"
    assert (by_reply[ok.reply_id].case_id, by_reply[ok.reply_id].party_id) == (
        ok.case_id,
        ok.party_id,
    )
    assert by_reply[flaky.reply_id].status == ReplyStatus.SENT
    assert adapter.sent(flaky.reply_id) == 3
    assert (by_reply[refused.reply_id].status, by_reply[refused.reply_id].reason) == (
        ReplyStatus.FAILED,
        "550 mailbox bestaat niet",
    )
    assert adapter.sent(refused.reply_id) == 1
    assert (by_reply[unset.reply_id].status, by_reply[unset.reply_id].reason) == (
        ReplyStatus.FAILED,
        "kanaal niet ingericht",
    )
    assert 'eenloket_outbound_attempts_total{channel="email",outcome="temporary"}' in metrics
    assert "eenloket_outbound_oldest_due_seconds" in metrics


async def test_a_bounce_by_token_marks_the_reply_bounced(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, producer: AIOKafkaProducer
) -> None:
    adapter = FakeAdapter()
    request = deliver_reply()
    async with outbound(kafka_bootstrap, pg_urls["outbound"], topics, adapter):
        await publish(
            producer, topics.outbound, envelope(request, request.reply_id), request.reply_id
        )
        [sent] = await statuses(kafka_bootstrap, topics.outbound_status, expect=1)
        assert sent.status == ReplyStatus.SENT
        bounce = DeliveryReportReceived(
            channel=ReplyChannel.EMAIL,
            token=request.token,
            status=ReplyStatus.BOUNCED,
            reason="5.1.1 onbekende ontvanger",
            at=datetime.now(UTC),
        )
        report_id = uuid.uuid4()
        await publish(
            producer, topics.delivery_reports, envelope(bounce, report_id, INGEST), report_id
        )
        unknown = bounce.model_copy(update={"token": "nobody"})
        await publish(
            producer, topics.delivery_reports, envelope(unknown, report_id, INGEST), report_id
        )
        reports = await statuses(kafka_bootstrap, topics.outbound_status, expect=2)
    bounced = reports[1]
    assert (bounced.reply_id, bounced.status, bounced.reason) == (
        request.reply_id,
        ReplyStatus.BOUNCED,
        "5.1.1 onbekende ontvanger",
    )


async def test_a_request_delivered_twice_is_sent_once(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any, producer: AIOKafkaProducer
) -> None:
    adapter = FakeAdapter()
    request = deliver_reply()
    event = envelope(request, request.reply_id)
    again = envelope(request, request.reply_id)  # the router made it again: another event id
    url = pg_urls["outbound"]
    async with outbound(kafka_bootstrap, url, topics, adapter):
        for e in (event, event, again):
            last = await publish(producer, topics.outbound, e, request.reply_id)
        engine = create_engine(url)
        sessions = session_factory(engine)

        async def consumed_all() -> bool:
            async with sessions() as session:
                offsets = (
                    await session.scalars(
                        select(consumer_offsets.c.next_offset).where(
                            consumer_offsets.c.topic == topics.outbound
                        )
                    )
                ).all()
            return any(o > last for o in offsets)

        try:
            await eventually(consumed_all)
            [sent] = await statuses(kafka_bootstrap, topics.outbound_status, expect=1)
            async with sessions() as session:
                row = (
                    await session.execute(
                        select(deliveries).where(deliveries.c.reply_id == request.reply_id)
                    )
                ).one()
        finally:
            await engine.dispose()
    assert sent.status == ReplyStatus.SENT
    assert (row.status, row.attempts) == ("sent", 1)
    assert adapter.sent(request.reply_id) == 1


async def test_an_attachment_from_the_store_arrives_in_the_mail(
    kafka_bootstrap: str,
    db_urls: dict[str, str],
    topics: Any,
    producer: AIOKafkaProducer,
    mailpit: MailpitAddress,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "attachments"
    # Put as ingest puts what a resident sent; the outbound service opens the same folder.
    pdf = b"%PDF-1.7 besluit " + uuid.uuid4().bytes
    ref = await LocalAttachmentStore(folder).put(
        Blob(data=pdf, filename="besluit.pdf", media_type="application/pdf")
    )
    request = reply(attachments=[ref])
    gone = reply(attachments=[attachment(b"nooit opgeslagen")])
    relay = EmailSettings(
        host=mailpit.smtp_host,
        port=mailpit.smtp_port,
        starttls="off",
        from_address="info@gemeente-test.nl",
        mail_domain="mail.gemeente-test.nl",
    )
    settings = outbound_settings(
        kafka_bootstrap, db_urls["outbound"], topics, relay=relay, attachment_dir=folder
    )
    async with serve(create_app(settings)), Mailpit(mailpit) as inbox:
        for r in (request, gone):
            await publish(producer, topics.outbound, envelope(r, r.reply_id), r.reply_id)
        reports = await statuses(kafka_bootstrap, topics.outbound_status, expect=2)
        [mail] = await inbox.wait_for(f"{request.reply_id}@mail.gemeente-test.nl")
    by_reply = {r.reply_id: r for r in reports}
    assert by_reply[request.reply_id].status == ReplyStatus.SENT
    [part] = list(mail.parsed().iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == ("besluit.pdf", "application/pdf")
    assert part.get_content() == pdf
    # A blob the store does not have fails the reply at once, with a reason staff can read.
    assert (by_reply[gone.reply_id].status, by_reply[gone.reply_id].reason) == (
        ReplyStatus.FAILED,
        "een bijlage staat niet (meer) in de opslag",
    )
