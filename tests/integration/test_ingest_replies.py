"""Ingest's side of replies (#17) on a real broker: answers and bounces over real SMTP,
signed delivery reports over HTTP."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from services.ingest.webhook_signatures import sign_app, sign_messagebird
from shared.contracts import InboundMessage
from shared.contracts.outbound import DeliveryReportReceived, reply_token
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.integration.test_ingest_smtp import DOMAIN, mail, send
from tests.reliability.inproc import end_offsets
from tests.support import read_topic

pytestmark = pytest.mark.kafka

DSN = Path(__file__).parents[1] / "fixtures" / "dsn"
SIGNING_KEY = "test-signing-key-for-status-reports"
APP_SECRET = "test-app-webhook-secret-of-some-length"
REPORTS = "/v1/delivery-reports/messagebird"


@pytest.fixture
async def ingest(kafka_bootstrap, sqlite_urls, topics, tmp_path):
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=sqlite_urls[
            "ingest"
        ],  # the shared PostgreSQL test databases are migrated by other branches too
        topic_inbound=topics.inbound,
        topic_delivery_reports=topics.delivery_reports,
        attachment_dir=tmp_path / "attachments",
        smtp_port=0,
        smtp_domains=[DOMAIN],
        messagebird_signing_key=SIGNING_KEY,
        app_webhook_secret=APP_SECRET,
    )
    app = create_app(settings)
    async with serve(app) as client:
        yield app.state.smtp.port, client


def a_token() -> str:
    return reply_token(uuid.uuid4().bytes, uuid.uuid4())


async def reports(kafka_bootstrap: str, topic: str, expect: int) -> list[DeliveryReportReceived]:
    records = await read_topic(kafka_bootstrap, topic, expect=expect)
    return [
        DeliveryReportReceived.model_validate(CloudEvent.from_json(r.value).data) for r in records
    ]


async def published(kafka_bootstrap: str, topic: str) -> int:
    return sum((await end_offsets(kafka_bootstrap, topic)).values())


async def test_a_dsn_to_a_bounce_address_is_a_report_and_no_message(
    ingest, kafka_bootstrap, topics, caplog
):
    port, _ = ingest
    caplog.set_level(logging.INFO)
    token = a_token()
    raw = (DSN / "postfix-bounce.eml").read_bytes()
    replies = await send(port, raw, rcpt=f"bounces+{token}@{DOMAIN}")
    assert replies["data"][0] == 250, replies
    (report,) = await reports(kafka_bootstrap, topics.delivery_reports, 1)
    assert (report.channel, report.token, report.status) == ("email", token, "bounced")
    assert report.reason is not None and report.reason.startswith("5.1.1")
    assert await published(kafka_bootstrap, topics.inbound) == 0
    assert token not in caplog.text and "j.jansen" not in caplog.text


async def test_an_auto_reply_to_a_bounce_address_is_dropped(ingest, kafka_bootstrap, topics):
    port, _ = ingest
    raw = (DSN / "vacation-reply.eml").read_bytes()
    replies = await send(port, raw, rcpt=f"bounces+{a_token()}@{DOMAIN}")
    assert replies["data"][0] == 250, replies
    assert await published(kafka_bootstrap, topics.inbound) == 0
    assert await published(kafka_bootstrap, topics.delivery_reports) == 0


async def test_an_answer_to_a_reply_address_carries_the_reply_thread_ref(
    ingest, kafka_bootstrap, topics, caplog
):
    port, _ = ingest
    caplog.set_level(logging.INFO)  # as in production (shared.logging)
    token = a_token()
    msg = mail("Re: Antwoord op uw vraag")
    replies = await send(port, msg.as_bytes(), rcpt=f"antwoord+{token}@{DOMAIN}")
    assert replies["data"][0] == 250, replies
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    message = InboundMessage.model_validate(CloudEvent.from_json(record.value).data["message"])
    assert message.thread_refs == [f"email:{msg['Message-ID'].strip('<>')}", f"reply:{token}"]
    assert token not in caplog.text  # logged by message id only


def messagebird_signature(url: str, body: bytes = b"", key: str = SIGNING_KEY) -> str:
    return sign_messagebird(key.encode(), url, body)


def status_report(token: str, status: str = "delivery_failed") -> dict[str, str]:
    return {
        "id": uuid.uuid4().hex,
        "reference": token,
        "recipient": "31612345678",
        "status": status,
        "statusReason": "unknown subscriber",
        "statusErrorCode": "1",
        "statusDatetime": "2025-11-04T10:12:07+00:00",
    }


async def test_a_signed_messagebird_report_by_get_is_on_the_topic(ingest, kafka_bootstrap, topics):
    _, client = ingest
    token = a_token()
    query = status_report(token)
    url = str(httpx.URL(f"http://test{REPORTS}", params=query))
    answer = await client.get(
        url, headers={"MessageBird-Signature-JWT": messagebird_signature(url)}
    )
    assert answer.status_code == 202, answer.text
    (report,) = await reports(kafka_bootstrap, topics.delivery_reports, 1)
    assert (report.channel, report.token, report.status) == ("sms", token, "failed")
    assert report.reference == query["id"]
    assert report.reason == "unknown subscriber 1"


async def test_a_signed_messagebird_report_by_post_and_an_app_report(
    ingest, kafka_bootstrap, topics
):
    _, client = ingest
    token = a_token()
    body = orjson.dumps(status_report(token, "delivered"))
    url = f"http://test{REPORTS}"
    answer = await client.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "MessageBird-Signature-JWT": messagebird_signature(url, body),
        },
    )
    assert answer.status_code == 202, answer.text
    app_body = orjson.dumps({"reference": str(uuid.uuid4()), "status": "delivered"})
    answer = await client.post(
        "/v1/delivery-reports/app",
        content=app_body,
        headers={
            "Content-Type": "application/json",
            "X-Eenloket-Signature": sign_app(APP_SECRET.encode(), app_body),
            "X-Eenloket-Timestamp": str(int(time.time())),
        },
    )
    assert answer.status_code == 202, answer.text
    app, sms = sorted(
        await reports(kafka_bootstrap, topics.delivery_reports, 2), key=lambda r: r.channel
    )
    assert (app.channel, app.status) == ("app", "delivered")
    assert (sms.channel, sms.token, sms.status, sms.reason) == ("sms", token, "delivered", None)


async def test_a_bad_signature_is_401_and_nothing_is_published(ingest, kafka_bootstrap, topics):
    _, client = ingest
    query = status_report(a_token())
    url = str(httpx.URL(f"http://test{REPORTS}", params=query))
    wrong_key = messagebird_signature(url, key="another-signing-key-of-32-bytes-or-more")
    other_url = messagebird_signature(url.replace("delivery_failed", "delivered"))
    for headers in (
        {},
        {"MessageBird-Signature-JWT": wrong_key},
        {"MessageBird-Signature-JWT": other_url},
    ):
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    answer = await client.post(
        "/v1/delivery-reports/app",
        content=b'{"reference":"r","status":"failed"}',
        headers={
            "X-Eenloket-Signature": "sha256=00",
            "X-Eenloket-Timestamp": str(int(time.time())),
        },
    )
    assert answer.status_code == 401
    assert await published(kafka_bootstrap, topics.delivery_reports) == 0


async def test_a_report_that_changes_nothing_is_202_and_not_published(
    ingest, kafka_bootstrap, topics
):
    _, client = ingest
    url = str(httpx.URL(f"http://test{REPORTS}", params=status_report(a_token(), "buffered")))
    answer = await client.get(
        url, headers={"MessageBird-Signature-JWT": messagebird_signature(url)}
    )
    assert answer.status_code == 202
    assert answer.json()["status"] == "ignored"
    body = b'{"reference":"r","status":"read"}'  # signed, but not a status this route knows
    answer = await client.post(
        "/v1/delivery-reports/app",
        content=body,
        headers={
            "X-Eenloket-Signature": sign_app(APP_SECRET.encode(), body),
            "X-Eenloket-Timestamp": str(int(time.time())),
        },
    )
    assert answer.status_code == 422
    assert "status" in answer.json()["detail"]
    assert await published(kafka_bootstrap, topics.delivery_reports) == 0
