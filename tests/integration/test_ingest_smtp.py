"""The SMTP receiver inside the ingest process: real mail with smtplib, found on a real broker."""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import InboundMessage
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.reliability.inproc import end_offsets
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DOMAIN = "gemeente.example"


@pytest.fixture
async def receiver(kafka_bootstrap, pg_urls, topics, tmp_path):
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
        attachment_dir=tmp_path / "attachments",
        smtp_port=0,  # any free port; the receiver reports the one it bound
        smtp_domains=[DOMAIN.upper()],
        max_email_bytes=64 * 1024,
        max_attachments=2,
    )
    app = create_app(settings)
    async with serve(app) as client:
        yield app.state.smtp.port, client


def mail(subject: str = "Lantaarnpaal kapot", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ria de Wit <Ria.de.Wit@example.nl>"
    msg["To"] = f"meldingen@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.nl")
    for name, value in headers.items():
        msg[name] = value
    msg.set_content("De lantaarnpaal voor huisnummer 12 is al een week kapot.")
    return msg


def smtp_exchange(
    port: int, raw: bytes, rcpt: str = f"meldingen@{DOMAIN}"
) -> dict[str, tuple[int, bytes]]:
    """One SMTP transaction, step by step, recording each reply (blocking: run in a thread)."""
    replies: dict[str, tuple[int, bytes]] = {}
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        replies["ehlo"] = smtp.ehlo("mx.example.nl")
        replies["mail"] = smtp.mail("bounce@example.nl")
        replies["rcpt"] = smtp.rcpt(rcpt)
        if replies["rcpt"][0] == 250:
            try:
                replies["data"] = smtp.data(raw)
            except smtplib.SMTPDataError as exc:  # smtplib raises for a non-250 end of DATA
                error = exc.smtp_error
                replies["data"] = (
                    exc.smtp_code,
                    error if isinstance(error, bytes) else error.encode(),
                )
    return replies


async def send(port: int, raw: bytes, **kw: str) -> dict[str, tuple[int, bytes]]:
    # On the wire every line ends in CRLF (smtplib leaves bytes as they are).
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    return await asyncio.to_thread(smtp_exchange, port, wire, **kw)


async def test_mail_sent_with_smtplib_is_on_kafka(receiver, kafka_bootstrap, topics, caplog):
    port, _ = receiver
    caplog.set_level(logging.INFO)  # as in production (shared.logging)
    msg = mail(**{"In-Reply-To": "<zaak-42@gemeente.example>"})
    replies = await send(port, msg.as_bytes())
    assert b"SIZE 65536" in replies["ehlo"][1]  # the limit is advertised
    code, text = replies["data"]
    assert code == 250, text
    message_id = text.decode().rsplit(" ", 1)[-1]

    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    message = InboundMessage.model_validate(CloudEvent.from_json(record.value).data["message"])
    assert str(message.message_id) == message_id
    assert message.channel == "email"
    assert message.sender[0].value == "ria.de.wit@example.nl"
    assert message.display_name == "Ria de Wit"
    assert message.thread_refs == [
        f"email:{msg['Message-ID'].strip('<>')}",
        "email:zaak-42@gemeente.example",
    ]
    assert b"ria" not in record.key.lower()
    # The log knows the message by its id only: no address, name or subject.
    assert any(getattr(r, "message_id", None) == message_id for r in caplog.records)
    assert "ria" not in caplog.text.lower()
    assert "bounce@example.nl" not in caplog.text  # the envelope sender (aiosmtpd logs it)
    assert "lantaarnpaal" not in caplog.text.lower()


async def test_the_same_message_delivered_twice_is_one_message(receiver, kafka_bootstrap, topics):
    port, _ = receiver
    raw = mail().as_bytes()
    first, second = await send(port, raw), await send(port, raw)
    assert first["data"][0] == second["data"][0] == 250  # a duplicate is still 250
    assert first["data"][1] == second["data"][1]  # the same message id
    # Acknowledged the first time: the duplicate is not published again.
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert first["data"][1].decode().endswith(str(CloudEvent.from_json(record.value).id))
    assert sum((await end_offsets(kafka_bootstrap, topics.inbound)).values()) == 1


async def test_a_recipient_the_municipality_does_not_own_is_550(receiver):
    port, _ = receiver
    replies = await send(port, mail().as_bytes(), rcpt="someone@elsewhere.example")
    assert replies["rcpt"][0] == 550
    assert "data" not in replies


async def test_over_the_size_limit_is_552(receiver):
    port, _ = receiver
    msg = mail()
    msg.set_content("x" * 70_000)
    replies = await send(port, msg.as_bytes())
    assert replies["data"][0] == 552, replies


async def test_over_the_attachment_count_is_552(receiver):
    port, _ = receiver
    msg = mail()
    for n in range(3):
        msg.add_attachment(b"foto", maintype="image", subtype="jpeg", filename=f"{n}.jpg")
    replies = await send(port, msg.as_bytes())
    assert replies["data"][0] == 552
    assert b"at most 2" in replies["data"][1]


async def test_unparseable_mail_is_a_permanent_5xx_and_the_receiver_keeps_working(receiver):
    port, _ = receiver
    garbage = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes
    replies = await send(port, garbage)
    assert replies["data"][0] == 554
    injection = b"From: a@example.nl\r\nSubject: =?utf-8?q?x=0D=0ABcc:_y@example.org?=\r\n\r\nb\r\n"
    assert (await send(port, injection))["data"][0] == 554
    assert (await send(port, mail().as_bytes()))["data"][0] == 250


async def test_readiness_includes_the_smtp_receiver(receiver):
    _, client = receiver
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["smtp"] == "ok"
