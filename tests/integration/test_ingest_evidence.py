"""Evidence and internationalised mail end to end: what each channel proved about an identifier
arrives on Kafka (and nothing a sender typed gains any), and mail with raw UTF-8 headers is
accepted over SMTP (SMTPUTF8) and over HTTP, never a 5xx."""

from __future__ import annotations

import asyncio
import re
import smtplib
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage, Trust
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
DOMAIN = "gemeente.example"
GATEWAY = "mx.gemeente.example"
NOW = "2026-04-06T09:30:00+02:00"
BSN = "123456782"


def keys() -> dict[str, tuple[str, Integration]]:
    """Fresh random keys per test: integration name -> (key, its configuration)."""
    made: dict[str, tuple[str, Integration]] = {}
    permissions: list[tuple[str, set[Channel], dict[str, Any]]] = [
        ("portal", {Channel.WEB}, {"may_assert_login": True}),
        ("balie", {Channel.COUNTER}, {"may_assert_login": True}),
        ("telephony", {Channel.PHONE}, {"may_assert_caller_id": True}),
        ("telephony-plain", {Channel.PHONE}, {"may_assert_login": True}),
        ("gateway", {Channel.EMAIL}, {"trusted_authserv_ids": frozenset({GATEWAY})}),
        ("gateway-plain", {Channel.EMAIL}, {}),
    ]
    for name, channels, extra in permissions:
        key = f"k-{name}-{uuid.uuid4().hex}"
        made[name] = (key, Integration(sha256=hash_key(key), channels=frozenset(channels), **extra))
    return made


@pytest.fixture(params=[True, False], ids=["fast-lane", "fastapi-route"])
async def ingest(request, kafka_bootstrap, pg_urls, topics, tmp_path):
    made = keys()
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
        allow_anonymous=False,
        api_keys={name: integration for name, (_, integration) in made.items()},
        attachment_dir=tmp_path / "attachments",
        smtp_port=0,
        smtp_domains=[DOMAIN],
        smtp_trusted_authserv_ids=[GATEWAY.upper()],
        fast_lane=request.param,
    )
    app = create_app(settings)
    async with serve(app) as client:
        yield client, {name: key for name, (key, _) in made.items()}, app.state.smtp.port


async def published(kafka_bootstrap, topics, expect: int) -> dict[str, InboundMessage]:
    records = await read_topic(kafka_bootstrap, topics.inbound, expect=expect)
    messages = [
        InboundMessage.model_validate(CloudEvent.from_json(r.value).data["message"])
        for r in records
    ]
    return {str(m.message_id): m for m in messages}


def evidence(message: InboundMessage) -> dict[IdentifierKind, tuple[Trust, object, object]]:
    return {s.kind: (s.trust, s.evidence, s.evidence_detail) for s in message.sender}


async def post(client, path: str, key: str, **kw):
    content_type = "message/rfc822" if "content" in kw else "application/json"
    headers = {"X-Api-Key": key, "Content-Type": content_type}
    return await client.post(f"/v1/channels/{path}", headers=headers, **kw)


# --- web, counter, phone ---------------------------------------------------------------


async def test_logins_and_id_checks_arrive_with_their_evidence(ingest, kafka_bootstrap, topics):
    client, key, _ = ingest
    web = await post(
        client,
        "web",
        key["portal"],
        json={
            "submission_id": f"s-{uuid.uuid4().hex}",
            "authentication": "digid",
            "bsn": BSN,
            "email": "a.devries@example.nl",
            "subject": "Afvalcontainer kapot",
            "text": "De grijze container is gebroken.",
        },
    )
    visit = await post(
        client,
        "counter",
        key["balie"],
        json={
            "visit_id": f"v-{uuid.uuid4().hex}",
            "visited_at": NOW,
            "identity": {"checked": "id-document", "bsn": BSN},
            "topic": "Rijbewijs verlengen",
        },
    )
    assert web.status_code == visit.status_code == 202, (web.text, visit.text)
    messages = await published(kafka_bootstrap, topics, expect=2)
    assert evidence(messages[web.json()["message_id"]]) == {
        IdentifierKind.BSN: (Trust.AUTHENTICATED, Evidence.DIGID, None),
        IdentifierKind.EMAIL: (Trust.CLAIMED, None, None),
    }
    assert evidence(messages[visit.json()["message_id"]]) == {
        IdentifierKind.BSN: (Trust.AUTHENTICATED, Evidence.ID_DOCUMENT, None),
    }


def call_record(**extra: object) -> dict[str, object]:
    return {
        "call_id": f"call-{uuid.uuid4().hex}",
        "caller_number": "020 123 4567",
        "called_line": "14 020",
        "started_at": NOW,
        "ended_at": NOW,
        "agent_notes": "Vraag over de afvalstoffenheffing.",
    } | extra


async def test_network_verified_caller_id_only_from_a_key_that_may_assert_it(
    ingest, kafka_bootstrap, topics
):
    client, key, _ = ingest
    verified = await post(
        client, "phone", key["telephony"], json=call_record(caller_id_verified=True)
    )
    assert verified.status_code == 202, verified.text
    refused = await post(
        client, "phone", key["telephony-plain"], json=call_record(caller_id_verified=True)
    )
    assert refused.status_code == 403, refused.text  # may assert logins, not caller ID
    assert refused.headers["content-type"] == "application/problem+json"
    plain = await post(client, "phone", key["telephony-plain"], json=call_record())
    assert plain.status_code == 202, plain.text
    messages = await published(kafka_bootstrap, topics, expect=2)
    assert len(messages) == 2  # the refused record was not published
    assert evidence(messages[verified.json()["message_id"]]) == {
        IdentifierKind.PHONE: (Trust.CLAIMED, Evidence.NETWORK_CALLER_ID, None)
    }
    assert evidence(messages[plain.json()["message_id"]]) == {
        IdentifierKind.PHONE: (Trust.CLAIMED, None, None)
    }


# --- e-mail: the trusted gateway's Authentication-Results ---------------------------------


def mail(*auth_results: str, sender: str = "Ria de Wit <ria@example.nl>") -> bytes:
    lines = [f"Authentication-Results: {a}" for a in auth_results] + [
        f"From: {sender}",
        f"To: meldingen@{DOMAIN}",
        "Subject: Lantaarnpaal kapot",
        f"Message-ID: <{uuid.uuid4()}@example.nl>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(lines) + "\r\n\r\nAl een week.\r\n").encode()


PASS = f"{GATEWAY}; spf=pass smtp.mailfrom=example.nl; dmarc=pass (p=reject) header.from=example.nl"


def smtp_send(
    port: int, raw: bytes, envelope_from: str, smtputf8: bool
) -> tuple[bytes, tuple[int, bytes]]:
    """One SMTP transaction (blocking): the EHLO reply and the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        ehlo = smtp.ehlo("mx.gemeente.example")
        options = ["SMTPUTF8", "BODY=8BITMIME"] if smtputf8 else []
        code, reply = smtp.mail(envelope_from, options)
        assert code == 250, reply
        code, reply = smtp.rcpt(f"meldingen@{DOMAIN}")
        assert code == 250, reply
        try:
            return ehlo[1], smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return ehlo[1], (exc.smtp_code, error if isinstance(error, bytes) else error.encode())


async def over_smtp(
    port: int, raw: bytes, envelope_from: str = "bounce@example.nl", smtputf8=False
):
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    return await asyncio.to_thread(smtp_send, port, wire, envelope_from, smtputf8)


async def test_dmarc_pass_of_the_trusted_gateway_over_http_and_smtp(
    ingest, kafka_bootstrap, topics
):
    client, key, port = ingest
    trusted = await post(client, "email", key["gateway"], content=mail(PASS))
    untrusting = await post(client, "email", key["gateway-plain"], content=mail(PASS))
    forged = await post(
        client,
        "email",
        key["gateway"],
        content=mail(
            "mx.vervalst.example; dmarc=pass header.from=example.nl",
            f"{GATEWAY}; dmarc=fail header.from=example.nl",
        ),
    )
    assert {r.status_code for r in (trusted, untrusting, forged)} == {202}
    _, (code, reply) = await over_smtp(port, mail(PASS))
    assert code == 250, reply
    smtp_id = reply.decode().rsplit(" ", 1)[-1]
    _, (code, reply) = await over_smtp(port, mail(PASS, sender="a@example.nl, b@example.nl"))
    assert code == 250, reply  # several From mailboxes: accepted, without evidence
    two_from_id = reply.decode().rsplit(" ", 1)[-1]

    messages = await published(kafka_bootstrap, topics, expect=5)
    dmarc = {IdentifierKind.EMAIL: (Trust.CLAIMED, Evidence.DMARC, GATEWAY)}
    nothing = {IdentifierKind.EMAIL: (Trust.CLAIMED, None, None)}
    assert evidence(messages[trusted.json()["message_id"]]) == dmarc
    assert evidence(messages[smtp_id]) == dmarc
    assert evidence(messages[untrusting.json()["message_id"]]) == nothing
    assert evidence(messages[forged.json()["message_id"]]) == nothing
    assert evidence(messages[two_from_id]) == nothing
    assert messages[two_from_id].sender[0].value == "a@example.nl"


# --- internationalised mail ---------------------------------------------------------------


def cpython_message() -> bytes:
    raw = (FIXTURES / "cpython_utf8_headers.eml").read_bytes()
    return raw.replace(
        b"cpython-utf8-headers-1@bar.example", f"{uuid.uuid4()}@bar.example".encode()
    )


async def test_the_cpython_utf8_message_over_smtp_and_http(ingest, kafka_bootstrap, topics):
    client, key, port = ingest
    ehlo, (code, reply) = await over_smtp(
        port, cpython_message(), envelope_from="főo@bar.example", smtputf8=True
    )
    assert b"SMTPUTF8" in ehlo  # advertised (RFC 6531)
    assert code == 250, reply
    smtp_id = reply.decode().rsplit(" ", 1)[-1]
    response = await post(client, "email", key["gateway"], content=cpython_message())
    assert response.status_code == 202, response.text

    messages = await published(kafka_bootstrap, topics, expect=2)
    for message_id in (smtp_id, response.json()["message_id"]):
        message = messages[message_id]
        assert message.display_name == "Páolo Fõo"
        assert [(s.kind, s.value, s.evidence) for s in message.sender] == [
            (IdentifierKind.EMAIL, "főo@bar.example", None)
        ]
        assert message.text == "Да, они летят."


@pytest.mark.parametrize(
    ("from_line", "name", "address"),
    [
        ("Jörg Müller <j@example.nl>".encode(), "Jörg Müller", "j@example.nl"),
        ("jörg@example.nl".encode(), None, "jörg@example.nl"),
        (b"J\xf6rg M\xfcller <j@example.nl>", "Jörg Müller", "j@example.nl"),  # Windows-1252
    ],
    ids=["utf8-display-name", "utf8-local-part", "latin1-display-name"],
)
async def test_8bit_from_is_accepted_over_both_doors(
    ingest, kafka_bootstrap, topics, from_line, name, address
):
    client, key, port = ingest

    def raw() -> bytes:
        data: bytes = (
            b"From: " + from_line + b"\r\nTo: meldingen@" + DOMAIN.encode() + b"\r\n"
            b"Subject: Vraag\r\nMessage-ID: <" + uuid.uuid4().hex.encode() + b"@example.nl>\r\n"
            b"\r\nHallo.\r\n"
        )
        return data

    _, (code, reply) = await over_smtp(port, raw(), smtputf8=True)
    assert code == 250, reply  # was 451: the message could not be serialised
    response = await post(client, "email", key["gateway"], content=raw())
    assert response.status_code == 202, response.text  # was 500
    messages = await published(kafka_bootstrap, topics, expect=2)
    assert [(m.display_name, m.sender[0].value) for m in messages.values()] == [
        (name, address),
        (name, address),
    ]


@pytest.mark.parametrize(
    "header",
    [
        b"From: j\xf6rg@example.nl",  # an address that is not UTF-8: refused, never guessed
        b"From: \xff\xfe\xfd <\xc3@\xc3.nl>",
        b"From: a@example.nl\r\nTo: \xc3\xa9 <\xff@x>, =?utf-8?q?=FF?= <b@y>",
        b"From: =?utf-8?b?" + b"/" * 40 + b"?= <a@example.nl>",
        b"From: a@example.nl\r\nAuthentication-Results: \xc3\xa9; dmarc=pass header.from=\xff",
        b'From: a@example.nl\r\nContent-Type: text/plain; charset="\xc3\xa9"; name=\xff',
        b"From: a@example.nl\r\nMessage-ID: <\xff\xfe@x>\r\nReferences: <\xc3@\xa9>",
    ],
)
async def test_no_header_bytes_give_a_server_error(ingest, header):
    client, key, port = ingest
    raw = header + b"\r\nSubject: x\r\n\r\nbody\r\n"
    response = await post(client, "email", key["gateway"], content=raw)
    assert response.status_code in (202, 400, 422), response.text
    _, (code, reply) = await over_smtp(port, raw, smtputf8=True)
    assert code == 250 or reply.startswith(b"5.6.0"), (code, reply)
