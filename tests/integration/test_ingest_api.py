"""Ingest's web-form route against a real broker and real databases (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid

import orjson
import pytest

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PORTAL_KEY = "portal-test-key"


@pytest.fixture
async def ingest(kafka_bootstrap, db_urls, topics):
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=db_urls["ingest"],
        topic_inbound=topics.inbound,
        portal_api_key=PORTAL_KEY,
        max_body_bytes=64 * 1024,
    )
    async with serve(create_app(settings)) as client:
        yield client


def form(**kw):
    return {"subject": "Afvalcontainer kapot", "text": "De grijze bak is gebroken."} | kw


async def test_accepted_form_is_on_kafka_as_a_cloudevent(ingest, kafka_bootstrap, topics):
    response = await ingest.post("/v1/channels/web", json=form(email="bewoner@example.nl"))
    assert response.status_code == 202, response.text
    message_id = response.json()["message_id"]

    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    event = CloudEvent.from_json(record.value)
    assert str(event.id) == message_id
    assert event.type == "nl.eenloket.message.received"
    assert event.subject == message_id
    assert event.data["message"]["text"] == "De grijze bak is gebroken."
    assert b"bewoner" not in record.key
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"


async def test_same_submission_twice_is_one_message(ingest, kafka_bootstrap, topics):
    submission = form(submission_id=f"portal-{uuid.uuid4()}")
    first = await ingest.post("/v1/channels/web", json=submission)
    second = await ingest.post("/v1/channels/web", json=submission)
    assert first.status_code == second.status_code == 202
    assert first.json()["message_id"] == second.json()["message_id"]
    assert second.json()["duplicate"] is True
    # Re-publishing is deliberate (the first send may never have reached Kafka); both
    # records carry the same event id, which is what consumers deduplicate on.
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=2)
    assert len({CloudEvent.from_json(r.value).id for r in records}) == 1


async def test_idempotency_key_header(ingest):
    key = str(uuid.uuid4())
    a = await ingest.post("/v1/channels/web", json=form(), headers={"Idempotency-Key": key})
    b = await ingest.post("/v1/channels/web", json=form(), headers={"Idempotency-Key": key})
    assert a.json()["message_id"] == b.json()["message_id"]


async def test_login_claim_needs_the_portal_key(ingest):
    body = form(authentication="digid", bsn="123456782")
    refused = await ingest.post("/v1/channels/web", json=body)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    accepted = await ingest.post("/v1/channels/web", json=body, headers={"X-Api-Key": PORTAL_KEY})
    assert accepted.status_code == 202


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"subject": "x", "text": ', {"content-type": "application/json"}, 422),
        (orjson.dumps({"subject": "x"}), {"content-type": "application/json"}, 422),
        (orjson.dumps(form(surprise=True)), {"content-type": "application/json"}, 422),
        (orjson.dumps(form(bsn="12")), {"content-type": "application/json"}, 422),
        (orjson.dumps(form()), {"content-type": "text/plain"}, 415),
        (orjson.dumps(form()), {}, 415),
        (orjson.dumps(form(text="x" * 70_000)), {"content-type": "application/json"}, 413),
        (b"[1, 2, 3]", {"content-type": "application/json"}, 422),
        (b"\x00\xff\xfe", {"content-type": "application/json"}, 400),
    ],
    ids=[
        "malformed-json",
        "missing-field",
        "unknown-field",
        "bad-bsn",
        "wrong-content-type",
        "no-content-type",
        "oversize",
        "not-an-object",
        "binary-garbage",
    ],
)
async def test_bad_input_gets_a_problem_document(ingest, content, headers, status):
    response = await ingest.post("/v1/channels/web", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]


async def test_validation_errors_do_not_echo_the_input(ingest):
    response = await ingest.post("/v1/channels/web", json=form(bsn="12345678X"))
    assert response.status_code == 422
    assert "12345678X" not in response.text


async def test_health_endpoints(ingest):
    assert (await ingest.get("/healthz")).status_code == 200
    ready = await ingest.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
    metrics = await ingest.get("/metrics")
    assert "eenloket_ingest_accepted_total" in metrics.text
