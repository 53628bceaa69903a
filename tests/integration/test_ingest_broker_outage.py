"""Kafka goes away and comes back: ingest answers 503 / 451 while it is gone (never 500, never
a silent drop), and the senders' retries afterwards give nothing lost and nothing doubled.

A dedicated broker (not the session's) is stopped and restarted on its old data and port."""

from __future__ import annotations

import asyncio
import re
import smtplib
import subprocess
import uuid
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from services.ingest.rejections import Reason
from shared.envelope import CloudEvent
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.apps import serve
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "gemeente.example"


def kafka_sh(*args: str) -> str:
    result = subprocess.run(
        ["bash", "deploy/local/kafka.sh", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"kafka.sh {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    run_dir = tmp_path_factory.mktemp("outage-kafka")
    out = kafka_sh("start", "--dir", str(run_dir))
    bootstrap = [line for line in out.splitlines() if line.startswith("KAFKA_BOOTSTRAP=")][-1]
    try:
        yield bootstrap.split("=", 1)[1], run_dir
    finally:
        kafka_sh("stop", "--dir", str(run_dir))


def smtp_data(port: int, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("mx.example.nl")
        smtp.mail("bounce@example.nl")
        smtp.rcpt(f"info@{DOMAIN}")
        try:
            return smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


def email_bytes() -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "bewoner@example.nl"
    msg["To"] = f"info@{DOMAIN}"
    msg["Subject"] = "Vraag tijdens storing"
    msg["Message-ID"] = make_msgid(domain="example.nl")
    msg.set_content("Komt dit aan?")
    return re.sub(rb"(?<!\r)\n", b"\r\n", msg.as_bytes())


async def test_kafka_outage_gives_503_and_451_then_everything_arrives_once(
    broker, pg_urls, tmp_path
):
    bootstrap, run_dir = broker
    topic = f"test.outage.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 3)])
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topic,
        attachment_dir=tmp_path / "attachments",
        kafka_timeout_seconds=3.0,
        retry_after_seconds=1,
        smtp_port=0,
        smtp_domains=[DOMAIN],
    )
    app = create_app(settings)
    async with serve(app) as client:
        port = app.state.smtp.port

        def form(n: int) -> dict[str, str]:
            return {"subject": f"Vraag {n}", "text": "Tekst", "submission_id": f"s-{uuid.uuid4()}"}

        before = await client.post("/v1/channels/web", json=form(0))
        assert before.status_code == 202, before.text
        accepted = {before.json()["message_id"]}

        def refused_for_kafka(channel: str) -> float:
            labels = {"channel": channel, "reason": Reason.KAFKA_UNAVAILABLE}
            return REGISTRY.get_sample_value("eenloket_ingest_rejected_total", labels) or 0.0

        counted = {c: refused_for_kafka(c) for c in ("web", "email")}
        await asyncio.to_thread(kafka_sh, "stop", "--dir", str(run_dir))
        try:
            during = form(1)
            refused = await client.post("/v1/channels/web", json=during)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/problem+json"
            raw = email_bytes()
            code, _ = await asyncio.to_thread(smtp_data, port, raw)
            assert code == 451
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            # Both channels count it under the one reason the IngestRefusingForKafka alert
            # matches (deploy/prometheus/alerts.yml; the HTTP routes said "unavailable").
            assert {c: refused_for_kafka(c) - n for c, n in counted.items()} == {
                "web": 1.0,
                "email": 1.0,
            }
        finally:
            await asyncio.to_thread(kafka_sh, "start", "--dir", str(run_dir))

        # The senders retry, as they were told to: the portal with the same submission,
        # the mail server with the same message.
        async def web_retry() -> str | None:
            r = await client.post("/v1/channels/web", json=during)
            return r.json()["message_id"] if r.status_code == 202 else None

        async def smtp_retry() -> str | None:
            code, text = await asyncio.to_thread(smtp_data, port, raw)
            return text.decode().rsplit(" ", 1)[-1] if code == 250 else None

        accepted.add(await eventually(web_retry, timeout=90, interval=0.5))
        accepted.add(await eventually(smtp_retry, timeout=90, interval=0.5))
        after = await client.post("/v1/channels/web", json=form(2))
        assert after.status_code == 202
        accepted.add(after.json()["message_id"])

    assert len(accepted) == 4
    records = await read_topic(bootstrap, topic, expect=4, timeout=60)
    # A refused attempt may still have reached the broker late (its batch was in
    # flight): then it is the same event id, which consumers apply once.
    event_ids = {str(CloudEvent.from_json(r.value).id) for r in records}
    assert event_ids == accepted
