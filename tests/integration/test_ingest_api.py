"""Ingest's web-form route and the integration keys, against a real broker and real databases
(PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import pytest

from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Channel
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.reliability.inproc import end_offsets
from tests.support import read_topic, session_database_name

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PORTAL_KEY = "portal-test-key"
PHONE_KEY = "telephony-test-key"
FORM_ONLY_KEY = "form-without-login-key"

KEYS = {
    "portal": Integration(
        sha256=hash_key(PORTAL_KEY), channels=frozenset({Channel.WEB}), may_assert_login=True
    ),
    "forms": Integration(sha256=hash_key(FORM_ONLY_KEY), channels=frozenset({Channel.WEB})),
    "telephony": Integration(sha256=hash_key(PHONE_KEY), channels=frozenset({Channel.PHONE})),
}


def settings_for(kafka_bootstrap, db_url, topics, tmp_path, **kw):
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=db_url,
        topic_inbound=topics.inbound,
        api_keys=KEYS,
        attachment_dir=tmp_path / "attachments",
        max_body_bytes=64 * 1024,
        **kw,
    )


@pytest.fixture
async def ingest(kafka_bootstrap, db_urls, topics, tmp_path):
    settings = settings_for(kafka_bootstrap, db_urls["ingest"], topics, tmp_path)
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
    # Kafka acknowledged the first: the duplicate is answered without publishing again.
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert str(CloudEvent.from_json(record.value).id) == first.json()["message_id"]
    assert sum((await end_offsets(kafka_bootstrap, topics.inbound)).values()) == 1


async def test_idempotency_key_header(ingest):
    key = str(uuid.uuid4())
    a = await ingest.post("/v1/channels/web", json=form(), headers={"Idempotency-Key": key})
    b = await ingest.post("/v1/channels/web", json=form(), headers={"Idempotency-Key": key})
    assert a.json()["message_id"] == b.json()["message_id"]
    assert (a.json()["duplicate"], b.json()["duplicate"]) == (False, True)


async def test_header_key_or_submission_id_either_recognises_a_resend(ingest):
    submission = form(submission_id=f"portal-{uuid.uuid4()}")
    first = await ingest.post(
        "/v1/channels/web", json=submission, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    # A retry with a fresh Idempotency-Key but the same submission id ...
    fresh_key = {"Idempotency-Key": str(uuid.uuid4())}
    retry = await ingest.post("/v1/channels/web", json=submission, headers=fresh_key)
    assert retry.json() == first.json() | {"duplicate": True}
    # ... binds that key to the first message too: a re-send with only it is the same one.
    again = await ingest.post("/v1/channels/web", json=submission, headers=fresh_key)
    assert again.json() == first.json() | {"duplicate": True}
    # It binds the first message's content as well: other content under it is refused.
    other = await ingest.post("/v1/channels/web", json=form(), headers=fresh_key)
    assert other.status_code == 422


async def test_login_claim_needs_a_key_that_may_assert_logins(ingest, kafka_bootstrap, topics):
    body = form(authentication="digid", bsn="123456782")
    refused = await ingest.post("/v1/channels/web", json=body)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    refused = await ingest.post("/v1/channels/web", json=body, headers={"X-Api-Key": FORM_ONLY_KEY})
    assert refused.status_code == 403
    accepted = await ingest.post("/v1/channels/web", json=body, headers={"X-Api-Key": PORTAL_KEY})
    assert accepted.status_code == 202
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    sender = CloudEvent.from_json(record.value).data["message"]["sender"]
    assert sender == [
        {
            "kind": "bsn",
            "value": "123456782",
            "trust": "authenticated",
            "evidence": "digid",
            "evidence_detail": None,
        }
    ]
    assert b"123456782" not in record.key


async def test_wrong_key_is_401_and_another_channels_key_is_403(ingest):
    wrong = await ingest.post("/v1/channels/web", json=form(), headers={"X-Api-Key": "guess"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("ApiKey")
    assert wrong.headers["content-type"] == "application/problem+json"
    other = await ingest.post("/v1/channels/web", json=form(), headers={"X-Api-Key": PHONE_KEY})
    assert other.status_code == 403
    assert "'web'" in other.json()["detail"]


async def test_without_anonymous_access_every_route_needs_a_key(
    kafka_bootstrap, pg_urls, topics, tmp_path
):
    settings = settings_for(
        kafka_bootstrap, pg_urls["ingest"], topics, tmp_path, allow_anonymous=False
    )
    async with serve(create_app(settings)) as client:
        for channel in ("web", "email", "app", "chat", "phone", "counter", "letter"):
            response = await client.post(f"/v1/channels/{channel}", json={})
            assert response.status_code == 401, channel
        ok = await client.post("/v1/channels/web", json=form(), headers={"X-Api-Key": PORTAL_KEY})
        assert ok.status_code == 202


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
        (orjson.dumps(form(text="nul \u0000 byte")), {"content-type": "application/json"}, 422),
        (
            orjson.dumps(form(subject="Vraag\r\nBcc: x@example.org")),
            {"content-type": "application/json"},
            422,
        ),
        (
            orjson.dumps(form()),
            {"content-type": "application/json", "idempotency-key": "k" * 300},
            422,
        ),
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
        "nul-in-text",
        "header-injection-in-subject",
        "absurd-idempotency-key",
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


async def test_rejections_are_counted_per_channel_and_reason(ingest):
    def count(text: str, reason: str) -> float:
        line = f'eenloket_ingest_rejected_total{{channel="web",reason="{reason}"}}'
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    before = (await ingest.get("/metrics")).text
    await ingest.post("/v1/channels/web", json=form(), headers={"X-Api-Key": "guess"})
    await ingest.post("/v1/channels/web", json={"subject": "x"})
    after = (await ingest.get("/metrics")).text
    assert count(after, "unauthenticated") == count(before, "unauthenticated") + 1
    assert count(after, "invalid") == count(before, "invalid") + 1


async def test_health_endpoints(ingest):
    assert (await ingest.get("/healthz")).status_code == 200
    ready = await ingest.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "database": "ok",
        "kafka": "ok",
        "attachments": "ok",
        "loops": "ok",
    }
    metrics = await ingest.get("/metrics")
    assert "eenloket_ingest_accepted_total" in metrics.text


async def test_http_latency_is_measured_per_route_template(ingest):
    await ingest.post("/v1/channels/web", json=form(email="lat@example.nl"))
    metrics = (await ingest.get("/metrics")).text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("eenloket_http_request_seconds_count")
        and 'route="/v1/channels/web"' in x
        and 'status="2xx"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1
    assert "lat@example.nl" not in metrics  # labels are templates, never values


async def test_database_connections_dropped_under_it_cost_at_most_a_retry(
    kafka_bootstrap, pg_dsn, pg_urls, topics, tmp_path
):
    """Ingest's pool does not ping per checkout: a connection PostgreSQL dropped fails its
    one statement (503, send again), and the next request works without a restart."""
    settings = settings_for(kafka_bootstrap, pg_urls["ingest"], topics, tmp_path)

    def submission():
        return form(submission_id=f"portal-{uuid.uuid4()}")

    async with serve(create_app(settings)) as client:
        for _ in range(3):  # a few pooled connections
            assert (await client.post("/v1/channels/web", json=submission())).status_code == 202
        admin = await asyncpg.connect(f"{pg_dsn}/postgres")
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                session_database_name("ingest"),
            )
        finally:
            await admin.close()
        assert dropped >= 1
        statuses = [
            (await client.post("/v1/channels/web", json=submission())).status_code for _ in range(4)
        ]
    assert set(statuses) <= {202, 503}
    assert statuses.count(503) <= 1, statuses
    assert statuses[-1] == 202
