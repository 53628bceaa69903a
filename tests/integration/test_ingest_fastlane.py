"""The fast lane gives the answers the FastAPI routes give: the same requests, good and bad,
sent to ingest with and without it (real Kafka and PostgreSQL), answer alike; and the
lane really serves the well-formed ones (its counter says so) and hands the rest over."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Channel
from tests.apps import serve
from tests.kafka_fakes import HeldProducer, use_producer
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NOW = "2026-04-06T09:30:00+02:00"
KEYS = {  # integration -> (key, channels, may assert logins)
    "portal": ("k-portal", {Channel.WEB}, True),
    "forms": ("k-forms", {Channel.WEB}, False),
    "app-backend": ("k-app", {Channel.APP}, True),
    "chat-platform": ("k-chat", {Channel.CHAT}, False),
    "telephony": ("k-phone", {Channel.PHONE}, False),
    "balie": ("k-balie", {Channel.COUNTER}, True),
    "mailroom": ("k-post", {Channel.LETTER}, False),
    "gateway": ("k-mail", {Channel.EMAIL}, False),
}


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


JSON = "application/json"


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def web(**kw: Any) -> bytes:
    return _json({"subject": "Container kapot", "text": "De grijze bak is gebroken."} | kw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def app_message() -> bytes:
    return _json(
        {
            "message_id": _id("app"),
            "conversation_id": "c-1",
            "sent_at": NOW,
            "party": {"authentication": "digid", "bsn": "123456782"},
            "subject": "Melding",
            "text": "Zwerfvuil.",
            "attachments": [
                {"filename": "f.jpg", "media_type": "image/jpeg", "content_base64": b64(b"\xff")}
            ],
        }
    )


def chat_event(kind: str = "message") -> bytes:
    return _json(
        {
            "type": kind,
            "event_id": _id("e"),
            "session_id": "S-1",
            "occurred_at": NOW,
            "visitor": {"handle": "v-5"},
            "text": "Wanneer GFT?",
        }
    )


def call() -> bytes:
    return _json(
        {
            "call_id": _id("call"),
            "caller_number": "020 123 4567",
            "called_line": "14 020",
            "started_at": NOW,
            "ended_at": NOW,
            "agent_notes": "Terugbellen.",
        }
    )


def visit(bsn: str = "123456782") -> bytes:
    return _json(
        {
            "visit_id": _id("v"),
            "visited_at": NOW,
            "location": "Balie 4",
            "identity": {"checked": "id-document", "bsn": bsn},
            "topic": "Rijbewijs",
            "notes": "Foto afgekeurd.",
        }
    )


def scanned_letter() -> bytes:
    return _json(
        {
            "letter_id": _id("l"),
            "received_at": NOW,
            "sender": {"name": "P. de Boer", "address_lines": ["Molenweg 12"]},
            "subject": "Bezwaar",
            "ocr_text": "Bezwaar tegen ...",
            "scan": {
                "filename": "b.pdf",
                "media_type": "application/pdf",
                "content_base64": b64(b"%PDF"),
            },
        }
    )


def login_form() -> bytes:
    return web(authentication="digid", bsn="123456782", submission_id=_id("p"))


def utf16_form() -> bytes:
    return json.dumps({"subject": "Vraag", "text": "Hoi"}).encode("utf-16")


def unvouched_login() -> bytes:
    return web(authentication="digid", bsn="123456782")


def typing_event() -> bytes:
    return chat_event("typing")


def mail(body: str = "De container is niet geleegd.") -> bytes:
    message = EmailMessage()
    message["From"] = "Inwoner <inwoner@example.nl>"
    message["To"] = "info@gemeente.example.nl"
    message["Subject"] = "Container"
    message["Message-ID"] = make_msgid(domain="mail.example.nl")
    message.set_content(body)
    return message.as_bytes()


def headerless_mail() -> bytes:
    return b"just some text, no headers at all\r\n"


def rfc822() -> dict[str, str]:
    return {"Content-Type": "message/rfc822"}


def fresh_key() -> dict[str, str]:
    return {"Idempotency-Key": _id("k")}


def no_headers() -> dict[str, str]:
    return {}


# name, channel, integration, body (fresh ids per call: each app gets its own message),
# whether the lane serves it (or hands it to FastAPI), the status, and the other headers.
Headers = Callable[[], dict[str, str]]
CASES: list[tuple[str, str, str | None, Callable[[], bytes], bool, int, Headers]] = [
    ("web form", "web", "forms", lambda: web(email="a@example.nl"), True, 202, no_headers),
    ("web form, login", "web", "portal", login_form, True, 202, no_headers),
    ("web form, idempotency key", "web", "forms", web, True, 202, fresh_key),
    ("web form, UTF-16 JSON", "web", "forms", utf16_form, False, 202, no_headers),
    ("app", "app", "app-backend", app_message, True, 202, no_headers),
    ("chat", "chat", "chat-platform", chat_event, True, 202, no_headers),
    ("phone", "phone", "telephony", call, True, 202, no_headers),
    ("counter", "counter", "balie", visit, True, 202, no_headers),
    ("letter", "letter", "mailroom", scanned_letter, True, 202, no_headers),
    ("e-mail", "email", "gateway", mail, True, 202, rfc822),
    # Refusals: FastAPI answers all but the refused login, which the lane renders itself.
    ("login the key may not assert", "web", "forms", unvouched_login, True, 403, no_headers),
    ("no key", "web", None, web, False, 401, no_headers),
    ("key for another channel", "web", "telephony", web, False, 403, no_headers),
    ("wrong content type", "web", "forms", web, False, 415, lambda: {"Content-Type": "text/plain"}),
    ("malformed JSON", "web", "forms", lambda: b'{"subject": "x", ', False, 422, no_headers),
    ("unknown field", "web", "forms", lambda: web(colour="blue"), False, 422, no_headers),
    ("empty body", "web", "forms", lambda: b"", False, 422, no_headers),
    ("NaN", "web", "forms", lambda: b'{"subject": NaN, "text": "x"}', False, 422, no_headers),
    ("bad idempotency key", "web", "forms", web, False, 422, lambda: {"Idempotency-Key": "a b"}),
    ("invalid BSN", "counter", "balie", lambda: visit(bsn="123456789"), False, 422, no_headers),
    ("unknown chat event", "chat", "chat-platform", typing_event, False, 422, no_headers),
    ("e-mail as JSON", "email", "gateway", mail, False, 415, no_headers),
    ("e-mail without headers", "email", "gateway", headerless_mail, False, 400, rfc822),
]  # fmt: skip


def settings(
    kafka_bootstrap: str, pg_urls: dict[str, str], topic: str, tmp_path: Any, fast: bool
) -> IngestSettings:
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topic,
        allow_anonymous=False,
        api_keys={
            name: Integration(sha256=hash_key(k), channels=frozenset(c), may_assert_login=login)
            for name, (k, c, login) in KEYS.items()
        },
        attachment_dir=tmp_path / "attachments",
        fast_lane=fast,
    )


def lane_count(channel: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "eenloket_ingest_fast_lane_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


def comparable(response: Any) -> tuple[int, str, Any]:
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body.pop("message_id", None)  # a new id per message
    return response.status_code, response.headers.get("content-type", ""), body


async def test_fast_lane_answers_as_the_routes_do(kafka_bootstrap, pg_urls, topics, tmp_path):
    fast_app = create_app(settings(kafka_bootstrap, pg_urls, topics.inbound, tmp_path, True))
    plain_app = create_app(settings(kafka_bootstrap, pg_urls, topics.inbound, tmp_path, False))
    async with serve(fast_app) as fast, serve(plain_app) as plain:
        for name, channel, integration, body, served, status, headers in CASES:
            key = {"X-Api-Key": KEYS[integration][0]} if integration else {}

            def request_headers(extra: Callable[[], dict[str, str]] = headers) -> dict[str, str]:
                return {"Content-Type": "application/json"} | extra() | key  # noqa: B023

            url = f"/v1/channels/{channel}"
            before = lane_count(channel, "served"), lane_count(channel, "handed-over")
            via_lane = await fast.post(url, content=body(), headers=request_headers())
            after = lane_count(channel, "served"), lane_count(channel, "handed-over")
            assert (after[0] - before[0], after[1] - before[1]) == ((1, 0) if served else (0, 1)), (
                name
            )
            via_route = await plain.post(url, content=body(), headers=request_headers())

            assert via_lane.status_code == status, (name, via_lane.text)
            assert comparable(via_lane) == comparable(via_route), name
            if status == 401:
                assert via_lane.headers["www-authenticate"] == via_route.headers["www-authenticate"]
        # Other methods are the router's business (405), never the lane's.
        before = lane_count("web", "served"), lane_count("web", "handed-over")
        assert (await fast.get("/v1/channels/web")).status_code == 405
        assert (lane_count("web", "served"), lane_count("web", "handed-over")) == before

    accepted = sum(1 for case in CASES if case[5] == 202)
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=2 * accepted)
    assert len(records) == 2 * accepted  # one message per 202, from either way in


# Reused keys, with and without the lane: (name, channel, integration, the first body,
# another body under the same key, extra headers). Each app gets its own ids.
REUSE: list[tuple[str, str, str, Callable[[str], bytes], Callable[[str], bytes], bool]] = [
    ("web form, header key", "web", "forms", lambda _: web(), lambda _: web(text="Ander."), True),
    (
        "web form, submission id",
        "web",
        "forms",
        lambda i: web(submission_id=i),
        lambda i: web(submission_id=i, text="Ander."),
        False,
    ),
    (
        "app, message id",
        "app",
        "app-backend",
        lambda i: _json({"message_id": i, "conversation_id": "c", "party": {}, "text": "Een"}),
        lambda i: _json({"message_id": i, "conversation_id": "c", "party": {}, "text": "Twee"}),
        False,
    ),
    ("e-mail, header key", "email", "gateway", lambda _: mail("Een"), lambda _: mail("Twee"), True),
]  # fmt: skip


async def test_fast_lane_answers_a_reused_key_as_the_routes_do(
    kafka_bootstrap, pg_urls, topics, tmp_path
):
    """409 while the first request is in flight, 422 for other content under its key."""
    apps = {
        fast: create_app(settings(kafka_bootstrap, pg_urls, topics.inbound, tmp_path, fast))
        for fast in (True, False)
    }
    async with serve(apps[True]) as fast, serve(apps[False]) as plain:
        for name, channel, integration, first_body, other_body, header_key in REUSE:
            url = f"/v1/channels/{channel}"
            answers = []
            for client, app in ((fast, apps[True]), (plain, apps[False])):
                own = _id("own")
                kind = {"Content-Type": "message/rfc822" if channel == "email" else JSON}
                headers = kind | {"X-Api-Key": KEYS[integration][0]}
                if header_key:
                    headers["Idempotency-Key"] = _id("k")
                body = first_body(own)
                held = HeldProducer(app.state.intake.producer)
                real = use_producer(app, held)
                try:
                    first = asyncio.create_task(client.post(url, content=body, headers=headers))
                    await asyncio.wait_for(held.held.wait(), 30)
                    before = lane_count(channel, "served")
                    busy = await client.post(url, content=body, headers=headers)
                    other = await client.post(url, content=other_body(own), headers=headers)
                    served = lane_count(channel, "served") - before
                    held.release.set()
                    assert (await asyncio.wait_for(first, 30)).status_code == 202, name
                finally:
                    held.release.set()
                    use_producer(app, real)
                assert (busy.status_code, other.status_code) == (409, 422), (name, busy.text)
                assert busy.headers["retry-after"] == "5", name
                assert served == (2 if client is fast else 0), name
                answers.append((comparable(busy), comparable(other)))
            assert answers[0] == answers[1], name
