"""Every channel over HTTP, through a real broker and PostgreSQL: one canonical message each,
attachments in the store (never on Kafka), and the refusals each channel can earn."""

from __future__ import annotations

import base64
import hashlib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Channel, InboundMessage
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.support import ingest_with_keys, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
NOW = "2026-04-06T09:30:00+02:00"
PDF = b"%PDF-1.4\n% scan van een brief\n%%EOF\n"

KEYS = {  # integration -> (key, channels, may assert logins)
    "portal": ("k-portal", {Channel.WEB}, True),
    "gateway": ("k-gateway", {Channel.EMAIL}, False),
    "app-backend": ("k-app", {Channel.APP}, True),
    "app-test": ("k-app-test", {Channel.APP}, False),
    "chat-platform": ("k-chat", {Channel.CHAT}, False),
    "telephony": ("k-phone", {Channel.PHONE}, False),
    "balie": ("k-balie", {Channel.COUNTER}, True),
    "mailroom": ("k-post", {Channel.LETTER}, False),
}


def key(name: str) -> dict[str, str]:
    return {"X-Api-Key": KEYS[name][0]}


@pytest.fixture
def settings(kafka_bootstrap, pg_urls, topics, tmp_path):
    return ingest_with_keys(
        KEYS,
        kafka=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic=topics.inbound,
        attachments=tmp_path / "attachments",
        max_attachments=3,
        max_attachment_bytes=64 * 1024,
        max_attachments_total_bytes=100 * 1024,
        max_email_bytes=256 * 1024,
    )


@pytest.fixture
async def ingest(settings):
    async with serve(create_app(settings)) as client:
        yield client


async def published(kafka_bootstrap, topics, expect: int = 1) -> list[InboundMessage]:
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=expect)
    return [
        InboundMessage.model_validate(CloudEvent.from_json(r.value).data["message"])
        for r in records
    ]


def stored(settings: IngestSettings, sha256: str) -> bytes:
    return (settings.attachment_dir / sha256[:2] / sha256[2:4] / sha256).read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- e-mail over HTTP --------------------------------------------------------------------


async def test_email_with_attachments_over_http(ingest, settings, kafka_bootstrap, topics):
    raw = (FIXTURES / "nested_mixed_attachments.eml").read_bytes()
    raw = raw.replace(b"nested-789@mail.example.nl", f"{uuid.uuid4()}@example.nl".encode())
    headers = key("gateway") | {"Content-Type": "message/rfc822"}
    response = await ingest.post("/v1/channels/email", content=raw, headers=headers)
    assert response.status_code == 202, response.text

    (message,) = await published(kafka_bootstrap, topics)
    assert str(message.message_id) == response.json()["message_id"]
    assert message.channel == Channel.EMAIL
    assert message.sender[0].value == "fatima@example.nl"
    assert message.sender[0].trust == "claimed"
    assert message.subject == "Aanvraag Wmo \u2013 traplift 🏠"
    assert [a.filename for a in message.attachments] == [
        None,
        "aanvraag traplift \u2013 ingevuld.pdf",
        "notities.txt",
    ]
    pdf = message.attachments[1]
    assert stored(settings, pdf.sha256).startswith(b"%PDF-1.4")
    assert hashlib.sha256(stored(settings, pdf.sha256)).hexdigest() == pdf.sha256
    # Claim check: the bytes themselves never travel through Kafka.
    (record,) = await read_topic(kafka_bootstrap, topics.inbound, expect=1)
    assert b"JVBERi0" not in record.value and b"%PDF" not in record.value


async def test_the_same_mail_twice_is_one_message(ingest, kafka_bootstrap, topics):
    msg = EmailMessage()
    msg["From"] = "Bewoner <bewoner@example.nl>"
    msg["To"] = "info@gemeente.nl"
    msg["Subject"] = "Vraag"
    msg["Message-ID"] = make_msgid(domain="example.nl")
    msg["In-Reply-To"] = "<earlier@gemeente.nl>"
    msg.set_content("Dit is mijn vraag.")
    headers = key("gateway") | {"Content-Type": "message/rfc822"}
    first = await ingest.post("/v1/channels/email", content=msg.as_bytes(), headers=headers)
    second = await ingest.post("/v1/channels/email", content=msg.as_bytes(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["message_id"] == second.json()["message_id"]
    assert second.json()["duplicate"] is True
    # Acknowledged the first time: the duplicate is not published again.
    (message,) = await published(kafka_bootstrap, topics, expect=1)
    assert message.message_id == uuid.UUID(first.json()["message_id"])
    own = msg["Message-ID"].strip("<>")
    assert message.thread_refs == [f"email:{own}", "email:earlier@gemeente.nl"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"From: a@example.nl\r\n\r\nhoi", "text/plain", 415),
        (b"\x89PNG\r\n\x1a\n\x00garbage", "message/rfc822", 400),
        (
            b"From: a@example.nl\r\nSubject: =?utf-8?q?a=0D=0ABcc:_x?=\r\n\r\nb",
            "message/rfc822",
            400,
        ),
        (b"To: info@gemeente.nl\r\nSubject: x\r\n\r\nno sender", "message/rfc822", 422),
        (b"From: a@example.nl\r\n\r\n" + b"x" * 300_000, "message/rfc822", 413),
    ],
    ids=["wrong-content-type", "garbage", "header-injection", "no-from", "oversize"],
)
async def test_email_refusals(ingest, body, content_type, status):
    headers = key("gateway") | {"Content-Type": content_type}
    response = await ingest.post("/v1/channels/email", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


async def test_too_many_attachments_is_413_not_a_truncation(ingest, kafka_bootstrap, topics):
    msg = EmailMessage()
    msg["From"] = "bewoner@example.nl"
    msg["Subject"] = "Foto's"
    msg.set_content("Zie bijlagen.")
    for n in range(4):
        msg.add_attachment(
            f"foto {n}".encode(), maintype="image", subtype="jpeg", filename=f"{n}.jpg"
        )
    headers = key("gateway") | {"Content-Type": "message/rfc822"}
    response = await ingest.post("/v1/channels/email", content=msg.as_bytes(), headers=headers)
    assert response.status_code == 413
    assert "at most 3" in response.json()["detail"]


# --- app ---------------------------------------------------------------------------------


def app_body(**kw):
    return {
        "message_id": f"app-{uuid.uuid4()}",
        "conversation_id": "conv-8812",
        "sent_at": NOW,
        "party": {"authentication": "digid", "bsn": "123456782", "email": "K.Bakker@Example.NL"},
        "subject": "Melding openbare ruimte",
        "text": "Er ligt zwerfvuil bij de speeltuin.",
        "attachments": [
            {
                "filename": "foto.jpg",
                "media_type": "image/jpeg",
                "content_base64": b64(b"\xff\xd8jpeg"),
            }
        ],
    } | kw


async def test_app_message_with_login_and_photo(ingest, settings, kafka_bootstrap, topics):
    response = await ingest.post("/v1/channels/app", json=app_body(), headers=key("app-backend"))
    assert response.status_code == 202, response.text
    (message,) = await published(kafka_bootstrap, topics)
    assert message.channel == Channel.APP
    assert [(s.kind, s.value, s.trust) for s in message.sender] == [
        ("bsn", "123456782", "authenticated"),
        ("email", "k.bakker@example.nl", "claimed"),
    ]
    assert message.thread_refs == ["app:conv-8812"]
    (photo,) = message.attachments
    assert stored(settings, photo.sha256) == b"\xff\xd8jpeg"


async def test_app_login_from_a_key_that_may_not_assert_it_is_403(ingest):
    response = await ingest.post("/v1/channels/app", json=app_body(), headers=key("app-test"))
    assert response.status_code == 403
    anonymous_party = app_body(party={"name": "Onbekend"})
    ok = await ingest.post("/v1/channels/app", json=anonymous_party, headers=key("app-test"))
    assert ok.status_code == 202


# --- chat --------------------------------------------------------------------------------


async def test_chat_session_events_become_messages_on_one_thread(ingest, kafka_bootstrap, topics):
    session = f"S-{uuid.uuid4().hex[:8]}"
    base = {
        "session_id": session,
        "occurred_at": NOW,
        "visitor": {"handle": "bezoeker-5", "name": "Sam"},
    }
    events = [
        base | {"type": "session.started", "event_id": f"{session}-1", "topic": "Afval"},
        base
        | {
            "type": "message",
            "event_id": f"{session}-2",
            "text": "Wanneer wordt het GFT opgehaald?",
        },
        base | {"type": "session.ended", "event_id": f"{session}-3", "reason": "visitor-left"},
    ]
    for event in events:
        response = await ingest.post("/v1/channels/chat", json=event, headers=key("chat-platform"))
        assert response.status_code == 202, response.text
    agent = base | {"type": "message", "event_id": "x", "author": "agent", "text": "Hallo"}
    refused = await ingest.post("/v1/channels/chat", json=agent, headers=key("chat-platform"))
    assert refused.status_code == 422
    messages = await published(kafka_bootstrap, topics, expect=3)
    assert sorted(m.channel_message_id or "" for m in messages) == [e["event_id"] for e in events]
    assert {tuple(m.thread_refs) for m in messages} == {(f"chat:{session}",)}
    assert {s.kind for m in messages for s in m.sender} == {"chat"}


# --- phone -------------------------------------------------------------------------------


async def test_call_record_with_anonymous_callback(ingest, kafka_bootstrap, topics):
    first = {
        "call_id": f"call-{uuid.uuid4().hex[:8]}",
        "caller_number": "020 123 4567",
        "called_line": "14 020",
        "started_at": "2026-04-06T09:00:00+02:00",
        "ended_at": "2026-04-06T09:04:10+02:00",
        "agent_notes": "Vraag over de afvalstoffenheffing; terugbellen.",
        "transcript": "Beller: Goedemorgen, ik heb een vraag over de aanslag.",
    }
    callback = first | {
        "call_id": f"call-{uuid.uuid4().hex[:8]}",
        "caller_number": None,
        "callback_of": first["call_id"],
        "transcript": None,
    }
    for record in (first, callback):
        response = await ingest.post("/v1/channels/phone", json=record, headers=key("telephony"))
        assert response.status_code == 202, response.text
    messages = {m.channel_message_id: m for m in await published(kafka_bootstrap, topics, expect=2)}
    one, two = messages[first["call_id"]], messages[callback["call_id"]]
    assert [(s.kind, s.value, s.trust) for s in one.sender] == [
        ("phone", "+31201234567", "claimed")
    ]
    assert "Transcript:" in one.text
    assert two.sender == []
    assert two.thread_refs == [f"phone:{callback['call_id']}", f"phone:{first['call_id']}"]


# --- counter -----------------------------------------------------------------------------


async def test_counter_visit_with_id_check(ingest, kafka_bootstrap, topics):
    visit = {
        "visit_id": f"balie-{uuid.uuid4().hex[:8]}",
        "visited_at": NOW,
        "location": "Stadskantoor, balie 4",
        "identity": {"checked": "id-document", "bsn": "123456782"},
        "name": "K. Bakker",
        "topic": "Rijbewijs verlengen",
        "notes": "Pasfoto afgekeurd; komt terug met nieuwe foto.",
        "product": "rijbewijs",
        "case_number": "ZAAK-2026-0000000042",
    }
    response = await ingest.post("/v1/channels/counter", json=visit, headers=key("balie"))
    assert response.status_code == 202, response.text
    (message,) = await published(kafka_bootstrap, topics)
    assert [(s.kind, s.trust) for s in message.sender] == [("bsn", "authenticated")]
    assert (message.case_number_hint, message.product_hint) == ("ZAAK-2026-0000000042", "rijbewijs")
    wrong_bsn = visit | {"identity": {"checked": "id-document", "bsn": "123456789"}}
    refused = await ingest.post("/v1/channels/counter", json=wrong_bsn, headers=key("balie"))
    assert refused.status_code == 422


# --- letter ------------------------------------------------------------------------------


async def test_scanned_letter_with_scan_as_attachment(ingest, settings, kafka_bootstrap, topics):
    letter = {
        "letter_id": f"post-{uuid.uuid4().hex[:8]}",
        "received_at": NOW,
        "sender": {"name": "Dhr. P. de Boer", "address_lines": ["Molenweg 12", "9999 ZZ Ergens"]},
        "subject": "Bezwaar parkeerboete",
        "ocr_text": "Geachte heer/mevrouw,\nHierbij maak ik bezwaar tegen ...",
        "scan": {
            "filename": "brief.pdf",
            "media_type": "application/pdf",
            "content_base64": b64(PDF),
        },
    }
    response = await ingest.post("/v1/channels/letter", json=letter, headers=key("mailroom"))
    assert response.status_code == 202, response.text
    (message,) = await published(kafka_bootstrap, topics)
    assert message.channel == Channel.LETTER
    assert [(s.kind, s.value) for s in message.sender] == [
        ("postal_address", "Molenweg 12, 9999 ZZ Ergens")
    ]
    (scan,) = message.attachments
    assert (scan.filename, scan.media_type, scan.size) == ("brief.pdf", "application/pdf", len(PDF))
    assert stored(settings, scan.sha256) == PDF


async def test_an_attachment_over_the_size_limit_is_413(ingest):
    letter = {
        "letter_id": "post-big",
        "received_at": NOW,
        "scan": {"media_type": "application/pdf", "content_base64": b64(b"x" * (65 * 1024))},
    }
    response = await ingest.post("/v1/channels/letter", json=letter, headers=key("mailroom"))
    assert response.status_code == 413
    assert "per attachment" in response.json()["detail"]
