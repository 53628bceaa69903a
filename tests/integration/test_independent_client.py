"""What ingest writes is ordinary Kafka and ordinary CloudEvents: read it with kcat (a second,
C implementation of the protocol) and parse it with the `cloudevents` SDK."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from tests.apps import serve

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_kcat_reads_a_valid_cloudevent(kafka_bootstrap, pg_urls, topics):
    kcat = shutil.which("kcat")
    assert kcat, "kcat is missing: `make test` installs it (Debian package kcat)"
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
    )
    async with serve(create_app(settings)) as ingest:
        response = await ingest.post(
            "/v1/channels/web",
            json={
                "email": f"{uuid.uuid4().hex[:6]}@example.nl",
                "subject": "Parkeervergunning",
                "text": "Mijn vergunning verloopt.",
                "product": "parkeervergunning",
            },
        )
    assert response.status_code == 202
    message_id = response.json()["message_id"]

    process = await asyncio.create_subprocess_exec(
        kcat,
        "-b",
        kafka_bootstrap,
        "-C",
        "-t",
        topics.inbound,
        "-J",
        "-e",
        "-q",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    (line,) = [line for line in stdout.splitlines() if line.strip()]
    record = orjson.loads(line)

    headers = record.get("headers") or []
    header_map = dict(zip(headers[::2], headers[1::2], strict=True))
    assert header_map["content-type"] == "application/cloudevents+json"
    assert header_map["traceparent"].startswith("00-")

    event = from_kafka(
        KafkaMessage(
            headers={k: v.encode() for k, v in header_map.items()},
            key=record["key"].encode(),
            value=record["payload"].encode(),
        ),
        JSONFormat(),
    )
    attributes = event.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] == message_id
    assert attributes["type"] == "nl.eenloket.message.received"
    assert attributes["source"] == "urn:nld:oin:00000000000000000000:systeem:eenloket-ingest"
    assert attributes["subject"] == message_id
    assert attributes["datacontenttype"] == "application/json"
    data = event.get_data()
    assert isinstance(data, dict)
    assert data["message"]["channel"] == "web"
    assert data["message"]["product_hint"] == "parkeervergunning"
