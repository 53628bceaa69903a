"""The S3-compatible attachment store against a real S3 server (moto's, as a subprocess):
e-mail in over HTTP, the bytes in the bucket under their SHA-256, the claim check on Kafka;
an unreachable bucket is a 503 (SMTP 451) and nothing is published."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from botocore.config import Config

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.attachments import AttachmentStoreUnavailableError
from shared.contracts import InboundMessage
from shared.devstack import free_port
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.support import eventually, read_topic

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DOMAIN = "gemeente.example"
PDF = b"%PDF-1.4\n% aanvraag omgevingsvergunning\n%%EOF\n"
PHOTO = bytes(range(256)) * 40
ACCESS_KEY, SECRET_KEY = "eenloket", "moto-geheim"


@dataclass
class S3Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def pause(self) -> None:
        """The server hangs: connections are accepted (by the kernel), never answered."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = S3Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"moto_server exited: {log.read_text()[-2000:]}"
            try:
                httpx.get(server.url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"moto_server not up: {log.read_text()}"
                time.sleep(0.1)
        yield server
    finally:
        server.resume()
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"eenloket-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


def ingest_settings(
    s3_server: S3Server, bucket: str, kafka_bootstrap: str, pg_urls: dict[str, str], topics: Any
) -> IngestSettings:
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
        attachment_store="s3",
        attachment_s3_bucket=bucket,
        attachment_s3_endpoint_url=s3_server.url,
        attachment_s3_region="us-east-1",
        attachment_s3_access_key_id=ACCESS_KEY,
        attachment_s3_secret_access_key=SECRET_KEY,
        attachment_s3_path_style=True,
        attachment_s3_prefix="ingest",
        # A hanging bucket costs a request one second, then 503.
        attachment_s3_timeout_seconds=1,
        attachment_s3_max_attempts=1,
        smtp_port=0,
        smtp_domains=[DOMAIN],
        max_attachments=3,
    )


@pytest.fixture
def settings(s3_server, bucket, kafka_bootstrap, pg_urls, topics) -> IngestSettings:
    return ingest_settings(s3_server, bucket, kafka_bootstrap, pg_urls, topics)


def email(*attachments: tuple[bytes, str, str]) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "Bewoner <bewoner@example.nl>"
    msg["To"] = f"info@{DOMAIN}"
    msg["Subject"] = "Aanvraag"
    msg["Message-ID"] = make_msgid(domain="example.nl")
    msg.set_content("Zie de bijlagen.")
    for data, media_type, name in attachments:
        maintype, subtype = media_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def post_email(client: httpx.AsyncClient, msg: EmailMessage) -> Any:
    return client.post(
        "/v1/channels/email",
        content=msg.as_bytes(),
        headers={"Content-Type": "message/rfc822"},
    )


def key(sha256: str) -> str:
    return f"ingest/{sha256[:2]}/{sha256[2:4]}/{sha256}"


async def record_count(bootstrap: str, topic: str) -> int:
    """Records on the topic (its three partitions' end offsets): 0 means none published."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
    finally:
        await consumer.stop()
    return sum(ends.values())


def smtp_reply(port: int, msg: EmailMessage) -> int:
    """The reply code to DATA (blocking: run in a thread)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        try:
            smtp.sendmail("bounce@example.nl", [f"info@{DOMAIN}"], msg.as_bytes())
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code
    return 250


async def test_attachments_are_in_the_bucket_by_hash_and_on_kafka_by_reference(
    settings, s3_server, bucket, kafka_bootstrap, topics
):
    app = create_app(settings)
    async with serve(app) as client:
        msg = email(
            (PDF, "application/pdf", "aanvraag.pdf"),
            (PHOTO, "image/jpeg", "situatie.jpg"),
            (PDF, "application/pdf", "aanvraag (kopie).pdf"),  # the same bytes again
        )
        response = await post_email(client, msg)
        assert response.status_code == 202, response.text

        (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
        message = InboundMessage.model_validate(CloudEvent.from_json(record.value).data["message"])
        assert str(message.message_id) == response.json()["message_id"]
        pdf_sha = hashlib.sha256(PDF).hexdigest()
        photo_sha = hashlib.sha256(PHOTO).hexdigest()
        assert [(a.sha256, a.filename, a.media_type, a.size) for a in message.attachments] == [
            (pdf_sha, "aanvraag.pdf", "application/pdf", len(PDF)),
            (photo_sha, "situatie.jpg", "image/jpeg", len(PHOTO)),
            (pdf_sha, "aanvraag (kopie).pdf", "application/pdf", len(PDF)),
        ]
        # The bucket holds each content once, under the local store's layout.
        s3 = s3_server.client()
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted([key(pdf_sha), key(photo_sha)])
        assert s3.get_object(Bucket=bucket, Key=key(pdf_sha))["Body"].read() == PDF
        assert s3.get_object(Bucket=bucket, Key=key(photo_sha))["Body"].read() == PHOTO
        assert await app.state.intake.attachments.get(photo_sha) == PHOTO
        # Claim check: the bytes never travel through Kafka.
        assert b"%PDF" not in record.value and b"JVBERi0" not in record.value

        # Another message with the same attachment costs a HEAD, not an upload.
        puts: list[str] = []
        app.state.intake.attachments._client.meta.events.register(
            "before-call.s3.PutObject", lambda **kw: puts.append("put")
        )
        again = await post_email(client, email((PDF, "application/pdf", "nogmaals.pdf")))
        assert again.status_code == 202, again.text
        assert puts == []
        assert await record_count(kafka_bootstrap, topics.inbound) == 2

        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["attachments"] == "ok"


async def test_an_unreachable_bucket_is_503_and_451_and_nothing_is_published(
    settings, s3_server, bucket, kafka_bootstrap, topics
):
    app = create_app(settings)
    async with serve(app) as client:
        msg = email((PDF, "application/pdf", "aanvraag.pdf"))
        s3_server.pause()
        try:
            response = await post_email(client, msg)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == str(settings.retry_after_seconds)
            assert response.json()["title"] == "Ingest storage unavailable"

            by_smtp = email((PHOTO, "image/jpeg", "foto.jpg"))
            assert await asyncio.to_thread(smtp_reply, app.state.smtp.port, by_smtp) == 451

            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["attachments"].startswith("failing")
            assert ready.json()["checks"]["kafka"] == "ok"
            assert await record_count(kafka_bootstrap, topics.inbound) == 0
        finally:
            s3_server.resume()

        # The bucket is back: the sender's retry is accepted, once.
        retried = await post_email(client, msg)
        assert retried.status_code == 202, retried.text
        assert await record_count(kafka_bootstrap, topics.inbound) == 1
        body = s3_server.client().get_object(
            Bucket=bucket, Key=key(hashlib.sha256(PDF).hexdigest())
        )
        assert body["Body"].read() == PDF

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready_again, timeout=30)


async def test_a_missing_bucket_refuses_to_start(s3_server, kafka_bootstrap, pg_urls, topics):
    settings = ingest_settings(s3_server, "bestaat-niet", kafka_bootstrap, pg_urls, topics)
    with pytest.raises(AttachmentStoreUnavailableError, match="check failed: ClientError 404"):
        async with serve(create_app(settings)):
            pass
