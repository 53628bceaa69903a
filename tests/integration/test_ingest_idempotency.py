"""Idempotency keys (PostgreSQL and SQLite).

A key has a retention window: within it a re-send is recognised, after it the key counts as
new and the periodic purge removes it. A key binds one content: the same key with other
content is a 422, a re-send while the first is not yet acknowledged a 409, a duplicate of an
acknowledged message is not published again, and a re-send after a failed or interrupted
first attempt publishes byte for byte the event that attempt would have published. E-mail is
recognised by its content (line endings normalised), not by its Message-ID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import smtplib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text, update

from services.ingest.attachments import AttachmentLimits
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from services.ingest.orm import idempotency_keys
from services.ingest.service import IdempotencyConflictError, Intake
from shared.attachments import LocalAttachmentStore
from shared.db.engine import create_engine
from shared.db.migrations import alembic_config, upgrade
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.kafka_fakes import HeldProducer, RefusingProducer, use_producer
from tests.reliability.inproc import end_offsets, fresh_database
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def settings(kafka_bootstrap, db_url, topics, tmp_path, **kw):
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=db_url,
        topic_inbound=topics.inbound,
        attachment_dir=tmp_path / "attachments",
        idempotency_retention_days=7,
        **kw,
    )


async def age(db_url: str, submission: str, days: float) -> None:
    """Pretend the key of this submission was recorded ``days`` ago."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key.endswith(f":{submission}"))
                .values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        await engine.dispose()


async def keys_of(db_url: str, submission: str) -> list[uuid.UUID]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(idempotency_keys.c.message_id).where(
                    idempotency_keys.c.key.endswith(f":{submission}")
                )
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


def form(submission: str) -> dict[str, str]:
    return {"subject": "Vraag", "text": "Tekst", "submission_id": submission}


async def test_a_resend_within_the_window_is_recognised_after_it_is_new(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    submission = f"s-{uuid.uuid4()}"
    async with serve(create_app(settings(kafka_bootstrap, url, topics, tmp_path))) as client:
        first = (await client.post("/v1/channels/web", json=form(submission))).json()
        await age(url, submission, days=6.9)
        within = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert within == first | {"duplicate": True}
        await age(url, submission, days=7.1)
        after = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert after["duplicate"] is False
        assert after["message_id"] != first["message_id"]
        # ... and the window starts again from the new answer.
        again = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert again == after | {"duplicate": True}


async def test_the_periodic_purge_removes_expired_keys_only(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    old, fresh = f"s-{uuid.uuid4()}", f"s-{uuid.uuid4()}"
    app = create_app(
        settings(kafka_bootstrap, url, topics, tmp_path, idempotency_purge_interval_seconds=0.2)
    )
    async with serve(app) as client:
        for submission in (old, fresh):
            response = await client.post("/v1/channels/web", json=form(submission))
            assert response.status_code == 202
        await age(url, old, days=8)

        async def purged() -> bool:
            return not await keys_of(url, old)

        await eventually(purged, timeout=30)
        assert len(await keys_of(url, fresh)) == 1
        assert (await client.get("/readyz")).json()["checks"]["loops"] == "ok"


# --- a key binds one content: 422 for other content, 409 while the first is in flight --------

NOW = "2026-04-06T09:30:00+02:00"


def _scan() -> dict[str, str]:
    return {"filename": "b.pdf", "media_type": "application/pdf", "content_base64": "JVBERg=="}


# channel -> (the field holding the channel's own id, a body with that id and this text)
CHANNEL_IDS: dict[str, tuple[str, Callable[[str, str], dict[str, Any]]]] = {
    "web": ("submission_id", lambda i, t: {"submission_id": i, "subject": "Vraag", "text": t}),
    "app": (
        "message_id",
        lambda i, t: {
            "message_id": i,
            "conversation_id": "c-1",
            "party": {"name": "K. Bakker"},
            "text": t,
        },
    ),
    "chat": (
        "event_id",
        lambda i, t: {
            "type": "message",
            "event_id": i,
            "session_id": "S-1",
            "occurred_at": NOW,
            "text": t,
        },
    ),
    "phone": (
        "call_id",
        lambda i, t: {
            "call_id": i,
            "caller_number": "020 123 4567",
            "called_line": "14 020",
            "started_at": NOW,
            "ended_at": NOW,
            "agent_notes": t,
        },
    ),
    "counter": (
        "visit_id",
        lambda i, t: {
            "visit_id": i,
            "visited_at": NOW,
            "location": "Balie 4",
            "identity": {"checked": "none"},
            "topic": "Rijbewijs",
            "notes": t,
        },
    ),
    "letter": (
        "letter_id",
        lambda i, t: {
            "letter_id": i,
            "received_at": NOW,
            "sender": {"name": "P. de Boer", "address_lines": ["Molenweg 12"]},
            "ocr_text": t,
            "scan": _scan(),
        },
    ),
}


def reordered(doc: dict[str, Any]) -> bytes:
    """The same JSON document with its keys in reverse order and other whitespace."""
    return json.dumps(dict(reversed(list(doc.items()))), indent=3).encode()


JSON_HEADERS = {"Content-Type": "application/json"}


async def test_a_reused_channel_id_or_key_with_other_content_is_422_naming_it(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    async with serve(create_app(settings(kafka_bootstrap, url, topics, tmp_path))) as client:
        for channel, (field, body) in CHANNEL_IDS.items():
            own_id = f"{channel}-{uuid.uuid4()}"
            path = f"/v1/channels/{channel}"
            first = await client.post(path, json=body(own_id, "Eerste tekst."))
            assert first.status_code == 202, (channel, first.text)
            # The same validated request (keys reordered, other whitespace) is a re-send ...
            again = await client.post(
                path, content=reordered(body(own_id, "Eerste tekst.")), headers=JSON_HEADERS
            )
            assert again.json() == first.json() | {"duplicate": True}, channel
            # ... other content under the same id is refused, naming the field, not its value.
            other = await client.post(path, json=body(own_id, "Andere tekst."))
            assert other.status_code == 422, (channel, other.text)
            assert other.headers["content-type"] == "application/problem+json"
            problem = other.json()
            assert field in problem["detail"], (channel, problem)
            assert own_id not in other.text and "Andere" not in other.text
            assert problem["errors"] == [
                {"loc": ["body", field], "msg": ANY_TEXT, "type": "idempotency_key_reused"}
            ]
            # The header key: the same rule.
            key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
            new_id = f"{channel}-{uuid.uuid4()}"
            assert (await client.post(path, json=body(new_id, "A"), headers=key)).status_code == 202
            reused = await client.post(
                path, json=body(f"{channel}-{uuid.uuid4()}", "A"), headers=key
            )
            assert reused.status_code == 422, (channel, reused.text)
            assert "Idempotency-Key" in reused.json()["detail"]
            assert reused.json()["errors"][0]["loc"] == ["header", "idempotency-key"]
            assert key["Idempotency-Key"] not in reused.text

        # E-mail: the header key binds the mail's content as well.
        key = {"Idempotency-Key": f"k-{uuid.uuid4()}", "Content-Type": "message/rfc822"}
        mail = email_bytes("Eerste vraag.")
        assert (await client.post("/v1/channels/email", content=mail, headers=key)).json()[
            "duplicate"
        ] is False
        same = await client.post("/v1/channels/email", content=mail, headers=key)
        assert same.json()["duplicate"] is True
        reused = await client.post(
            "/v1/channels/email", content=email_bytes("Andere vraag."), headers=key
        )
        assert reused.status_code == 422, reused.text
        assert "Idempotency-Key" in reused.json()["detail"]


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()


def email_bytes(text: str, message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Bewoner <bewoner@example.nl>"
    msg["To"] = f"info@{DOMAIN}"
    msg["Subject"] = "Vraag"
    msg["Message-ID"] = message_id or make_msgid(domain="example.nl")
    msg.set_content(text)
    return msg.as_bytes()


async def records_on(bootstrap: str, topic: str) -> int:
    return sum((await end_offsets(bootstrap, topic)).values())


async def test_a_duplicate_of_an_acknowledged_message_is_not_published_again(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    submission = f"s-{uuid.uuid4()}"
    async with serve(create_app(settings(kafka_bootstrap, url, topics, tmp_path))) as client:
        first = await client.post("/v1/channels/web", json=form(submission))
        again = await client.post("/v1/channels/web", json=form(submission))
        assert again.json() == first.json() | {"duplicate": True}
    # Every send was acknowledged before its answer: the end offsets count them all.
    assert await records_on(kafka_bootstrap, topics.inbound) == 1


async def test_a_resend_while_the_first_is_in_flight_is_409_then_a_duplicate(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    app = create_app(settings(kafka_bootstrap, url, topics, tmp_path))
    async with serve(app) as client:
        held = HeldProducer(app.state.intake.producer)
        use_producer(app, held)
        key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        body = form(f"s-{uuid.uuid4()}")
        first = asyncio.create_task(client.post("/v1/channels/web", json=body, headers=key))
        await asyncio.wait_for(held.held.wait(), 30)
        # Same key, same content, first not yet acknowledged: 409, try again later.
        for headers in (key, {}):  # the header key and the submission id alike
            busy = await client.post("/v1/channels/web", json=body, headers=headers)
            assert busy.status_code == 409, busy.text
            assert busy.headers["content-type"] == "application/problem+json"
            assert busy.headers["retry-after"] == "5"
        # Other content under the key is a 422 even now.
        other_body = body | {"text": "Iets anders"}
        other = await client.post("/v1/channels/web", json=other_body, headers=key)
        assert other.status_code == 422, other.text
        held.release.set()
        accepted = await asyncio.wait_for(first, 30)
        assert accepted.status_code == 202
        again = await client.post("/v1/channels/web", json=body, headers=key)
        assert again.json() == accepted.json() | {"duplicate": True}
    assert len(held.values) == 1  # the 409s and the duplicate published nothing
    assert await records_on(kafka_bootstrap, topics.inbound) == 1


async def test_a_resend_after_a_failed_first_attempt_publishes_the_same_bytes(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    app = create_app(settings(kafka_bootstrap, url, topics, tmp_path))
    # No submitted_at: received_at is ingest's own moment, which a rebuild must not renew.
    body = {"subject": "Vraag", "text": "Tekst", "submission_id": f"s-{uuid.uuid4()}"}
    async with serve(app) as client:
        refusing = RefusingProducer()
        real = use_producer(app, refusing)
        refused = await client.post("/v1/channels/web", json=body)
        assert refused.status_code == 503, refused.text
        use_producer(app, real)
        retry = await client.post("/v1/channels/web", json=body)
        assert retry.status_code == 202, retry.text
        assert retry.json()["duplicate"] is False  # this is the send that counted
        again = await client.post("/v1/channels/web", json=body)
        assert again.json() == retry.json() | {"duplicate": True}
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert refusing.values == [record.value]  # byte for byte what the first attempt sent
    assert await records_on(kafka_bootstrap, topics.inbound) == 1


async def age_attempt(db_url: str, submission: str, seconds: float) -> None:
    """Pretend the unacknowledged attempt for this submission started ``seconds`` ago."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key.endswith(f":{submission}"))
                .values(attempted_at=datetime.now(UTC) - timedelta(seconds=seconds))
            )
    finally:
        await engine.dispose()


async def test_after_a_crash_in_flight_a_resend_waits_out_the_window_then_sends_the_same(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    app = create_app(settings(kafka_bootstrap, url, topics, tmp_path))
    body = {"subject": "Vraag", "text": "Tekst", "submission_id": f"s-{uuid.uuid4()}"}
    async with serve(app) as client:
        held = HeldProducer(app.state.intake.producer)
        real = use_producer(app, held)
        first = asyncio.create_task(client.post("/v1/channels/web", json=body))
        await asyncio.wait_for(held.held.wait(), 30)
        first.cancel()  # the process dies while Kafka has not acknowledged
        with contextlib.suppress(asyncio.CancelledError):
            await first
        use_producer(app, real)
        busy = await client.post("/v1/channels/web", json=body)
        assert busy.status_code == 409, busy.text
        window = app.state.intake.in_flight_window.total_seconds()
        await age_attempt(url, body["submission_id"], window + 1)
        retry = await client.post("/v1/channels/web", json=body)
        assert retry.status_code == 202, retry.text
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert held.values == [record.value]


async def test_email_a_reused_message_id_with_other_content_is_another_message(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    headers = {"Content-Type": "message/rfc822"}
    message_id = make_msgid(domain="example.nl")
    async with serve(create_app(settings(kafka_bootstrap, url, topics, tmp_path))) as client:
        a = await client.post(
            "/v1/channels/email", content=email_bytes("Vraag een", message_id), headers=headers
        )
        b = await client.post(
            "/v1/channels/email", content=email_bytes("Vraag twee", message_id), headers=headers
        )
        assert a.status_code == b.status_code == 202, (a.text, b.text)
        assert a.json()["message_id"] != b.json()["message_id"]
        assert (a.json()["duplicate"], b.json()["duplicate"]) == (False, False)
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=2)
    texts = {CloudEvent.from_json(r.value).data["message"]["text"] for r in records}
    assert texts == {"Vraag een", "Vraag twee"}


async def test_email_the_same_mail_over_smtp_and_http_is_one_message(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    app = create_app(
        settings(kafka_bootstrap, url, topics, tmp_path, smtp_port=0, smtp_domains=[DOMAIN])
    )
    raw = email_bytes("Eén bericht, twee wegen.")
    assert b"\r\n" not in raw
    async with serve(app) as client:
        code, text = await asyncio.to_thread(smtp_data, app.state.smtp.port, crlf(raw))
        assert code == 250, text
        over_smtp = text.decode().rsplit(" ", 1)[-1]
        http = await client.post(
            "/v1/channels/email", content=raw, headers={"Content-Type": "message/rfc822"}
        )
        assert http.json() == {"message_id": over_smtp, "status": "accepted", "duplicate": True}
        # ... and back: the HTTP copy first, then SMTP, is one message too; a duplicate is 250.
        raw2 = email_bytes("Nog een bericht.")
        first = await client.post(
            "/v1/channels/email", content=raw2, headers={"Content-Type": "message/rfc822"}
        )
        code, text = await asyncio.to_thread(smtp_data, app.state.smtp.port, crlf(raw2))
        assert code == 250, text
        assert text.decode().rsplit(" ", 1)[-1] == first.json()["message_id"]
    assert await records_on(kafka_bootstrap, topics.inbound) == 2


DOMAIN = "gemeente.example"


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def smtp_data(port: int, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mx.example.nl")
        smtp.mail("bounce@example.nl")
        smtp.rcpt(f"info@{DOMAIN}")
        try:
            return smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


# --- migration 0003: the content columns, both ways, on both backends --------------------


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migration_0003_keeps_every_key_both_ways(pg_dsn, tmp_path, backend):
    if backend == "postgresql":
        url = await fresh_database(pg_dsn, INGEST_MIGRATIONS, "eenloket_test_ingest_0003", "0002")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ingest'}.db"
        await asyncio.to_thread(upgrade, INGEST_MIGRATIONS, url, "0002")
    created = datetime.now(UTC) - timedelta(hours=1)
    rows = {("web:message-id", f"portal:s-{i}"): uuid.uuid4() for i in range(5)}
    t = idempotency_keys
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for (scope, key), message_id in rows.items():
                await conn.execute(
                    insert(t).values(
                        scope=scope, key=key, message_id=message_id, created_at=created
                    )
                )
        await engine.dispose()
        await asyncio.to_thread(upgrade, INGEST_MIGRATIONS, url)

        async with engine.connect() as conn:
            result = await conn.execute(
                select(
                    t.c.scope,
                    t.c.key,
                    t.c.message_id,
                    t.c.created_at,
                    t.c.fingerprint,
                    t.c.attempted_at,
                    t.c.accepted_at,
                )
            )
            migrated = {(r[0], r[1]): tuple(r[2:]) for r in result}
        assert migrated == {k: (m, created, None, None, None) for k, m in rows.items()}

        # A key from before: its content unknown, never recorded as acknowledged. A re-send
        # is recognised and published once more (as before 0003), built with the key's
        # created_at as "now"; from then on the key binds that content.
        intake = Intake(
            engine=engine,
            producer=None,
            topic="unused",
            source="urn:test",
            key_secret=b"s",
            kafka_timeout=1.0,
            attachments=LocalAttachmentStore(tmp_path / "attachments"),
            limits=AttachmentLimits(max_count=1, max_bytes=1, max_total_bytes=1),
        )
        (pair, message_id), *_ = rows.items()
        legacy = await intake.reserve([pair], "f" * 64)
        assert (legacy.message_id, legacy.now, legacy.recognised, legacy.acknowledged) == (
            message_id,
            created,
            True,
            False,
        )
        with pytest.raises(IdempotencyConflictError):
            await intake.reserve([pair], "e" * 64)

        await asyncio.to_thread(command.downgrade, alembic_config(INGEST_MIGRATIONS, url), "0002")
        await engine.dispose()
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT scope, key FROM idempotency_keys"))
            assert {(r[0], r[1]) for r in result} == set(rows)
    finally:
        await engine.dispose()
