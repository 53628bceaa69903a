"""Ingest's side of replies (#17): reply addresses, DSNs, webhook signatures, the SMTP paths.

No Kafka: a stand-in producer records what would be published (or fails as aiokafka does).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from services.ingest.channels import email as email_channel
from services.ingest.channels.dsn import parse_dsn
from services.ingest.config import IngestSettings
from services.ingest.delivery_reports import REPORTS, ReportPublisher
from services.ingest.reply_addresses import ReplyMailbox, is_reply_mailbox, token_of, tokens_of
from services.ingest.smtp import EmailDelivery
from services.ingest.webhook_signatures import (
    SignatureError,
    sign_app,
    sign_messagebird,
    verify_app,
    verify_messagebird,
)
from shared.contracts.outbound import DeliveryReportReceived, ReplyStatus, reply_token
from shared.envelope import CloudEvent
from shared.settings import PLACEHOLDER_SECRET

DSN = Path(__file__).parents[1] / "fixtures" / "dsn"
DOMAIN = "gemeente.example"
KEY = b"test-signing-key-for-status-reports"  # 32+ bytes, as a real key is
URL = "https://ingest.gemeente.example/v1/delivery-reports/messagebird?id=abc&status=delivered"


def a_token() -> str:
    return reply_token(uuid.uuid4().bytes, uuid.uuid4())


class StandInProducer:
    """Records each send; ``fail`` makes every send fail as a broker outage does."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: Any) -> Any:
        if self.fail:
            raise KafkaConnectionError()
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def publisher(producer: StandInProducer) -> ReportPublisher:
    return ReportPublisher(
        cast(Any, producer),
        "reports",
        "urn:nld:oin:00000000000000000000:systeem:eenloket-ingest",
        kafka_timeout=1.0,
    )


class NoIntake:
    """A resident's message must not reach the intake on the bounce path."""

    async def accept(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a mail to a bounce address became a resident message")


def delivery(producer: StandInProducer) -> EmailDelivery:
    return EmailDelivery(cast(Any, NoIntake()), [DOMAIN], reports=publisher(producer))


def reports_of(producer: StandInProducer) -> list[DeliveryReportReceived]:
    return [
        DeliveryReportReceived.model_validate(CloudEvent.from_json(value).data)
        for _, _, value in producer.sent
    ]


def counted(outcome: str) -> float:
    return float(REPORTS.labels("email", outcome)._value.get())


# --- reply addresses ---------------------------------------------------------------------


def test_a_reply_token_is_read_from_its_address():
    token = a_token()
    assert len(token) == 26
    assert token_of(f"antwoord+{token}@{DOMAIN}", ReplyMailbox.ANSWER) == token
    assert token_of(f"<ANTWOORD+{token.upper()}@{DOMAIN}>", ReplyMailbox.ANSWER) == token
    assert token_of(f"bounces+{token}@{DOMAIN}", ReplyMailbox.BOUNCES) == token
    assert token_of(f"bounces+{token}@{DOMAIN}", ReplyMailbox.ANSWER) is None


@pytest.mark.parametrize(
    "tag",
    ["", "short", "a" * 25, "a" * 27, "0" * 26, "1" * 26, "ab-cdefghijklmnopqrstuvwxy", "zaak-42"],
)
def test_anything_but_a_well_formed_token_is_ignored(tag: str):
    address = f"antwoord+{tag}@{DOMAIN}"
    assert token_of(address, ReplyMailbox.ANSWER) is None
    assert is_reply_mailbox(address, ReplyMailbox.ANSWER)  # the mailbox still: never a case


def test_plain_mailboxes_are_no_reply_addresses():
    assert not is_reply_mailbox(f"antwoord@{DOMAIN}", ReplyMailbox.ANSWER)
    assert not is_reply_mailbox(f"meldingen+{a_token()}@{DOMAIN}", ReplyMailbox.ANSWER)
    token = a_token()
    addresses = [f"meldingen@{DOMAIN}", f"antwoord+{token}@{DOMAIN}", f"Antwoord+{token}@{DOMAIN}"]
    assert tokens_of(addresses, ReplyMailbox.ANSWER) == [token]


def test_an_answer_threads_by_its_token_beside_its_message_ids():
    raw = (
        b"From: r@example.nl\r\nTo: x@gemeente.example\r\nMessage-ID: <own@example.nl>\r\n"
        b"In-Reply-To: <reply@gemeente.example>\r\n\r\nDank u.\r\n"
    )
    token = a_token()
    parsed = email_channel.parse(raw)
    answered = email_channel.ParsedEmail(**{**parsed.__dict__, "reply_tokens": (token,)})
    assert answered.thread_refs() == [
        "email:own@example.nl",
        "email:reply@gemeente.example",
        f"reply:{token}",
    ]


# --- DSNs --------------------------------------------------------------------------------


def test_a_postfix_bounce_is_a_permanent_failure_with_its_diagnostic():
    dsn = parse_dsn((DSN / "postfix-bounce.eml").read_bytes())
    assert dsn is not None
    status, reason = dsn.outcome()
    assert status is ReplyStatus.BOUNCED
    assert reason is not None
    assert reason.startswith("5.1.1 smtp; 550 5.1.1")
    assert "User unknown in virtual mailbox table" in reason  # folded lines joined
    assert "\n" not in reason


def test_an_exchange_bounce_is_read_as_well():
    dsn = parse_dsn((DSN / "exchange-bounce.eml").read_bytes())
    assert dsn is not None
    status, reason = dsn.outcome()
    assert status is ReplyStatus.BOUNCED
    assert reason is not None and reason.startswith("5.2.2 ") and "mailbox full" in reason


def test_a_delayed_dsn_changes_nothing():
    dsn = parse_dsn((DSN / "postfix-delayed.eml").read_bytes())
    assert dsn is not None
    assert dsn.outcome() == (None, None)
    assert dsn.delayed


def test_a_vacation_notice_or_garbage_is_no_dsn():
    assert parse_dsn((DSN / "vacation-reply.eml").read_bytes()) is None
    assert parse_dsn(b"") is None
    assert parse_dsn(b"\x00\xff" * 100) is None
    report_without_status = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
    )
    assert parse_dsn(report_without_status) is None


def test_a_base64_encoded_status_part_is_decoded():
    raw = (DSN / "postfix-bounce.eml").read_bytes()
    start = raw.index(b"Reporting-MTA")
    end = raw.index(b"\n--4B2F01C0A3", start)
    encoded = base64.encodebytes(raw[start:end])
    raw = raw.replace(
        b"Content-Type: message/delivery-status\n\n" + raw[start:end],
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n" + encoded,
    )
    dsn = parse_dsn(raw)
    assert dsn is not None and dsn.outcome()[0] is ReplyStatus.BOUNCED


# --- the SMTP receiver's bounce path -------------------------------------------------------


async def test_a_bounce_to_a_token_address_is_published_as_a_report_keyed_by_no_address():
    producer = StandInProducer()
    token = a_token()
    raw = (DSN / "postfix-bounce.eml").read_bytes()
    reply = await delivery(producer).deliver(raw, [f"bounces+{token}@{DOMAIN}"])
    assert reply.startswith("250 ")
    (report,) = reports_of(producer)
    assert report.token == token
    assert report.status is ReplyStatus.BOUNCED
    assert report.channel == "email"
    _, key, _ = producer.sent[0]
    assert b"@" not in key and token.encode() not in key
    # The same DSN again (the sender retried after a lost 250): the same event id.
    await delivery(producer).deliver(raw, [f"bounces+{token}@{DOMAIN}"])
    first, second = (CloudEvent.from_json(v).id for _, _, v in producer.sent)
    assert first == second


async def test_a_bounce_is_refused_with_451_while_kafka_is_away():
    reply = await delivery(StandInProducer(fail=True)).deliver(
        (DSN / "exchange-bounce.eml").read_bytes(), [f"bounces+{a_token()}@{DOMAIN}"]
    )
    assert reply.startswith("451 ")


@pytest.mark.parametrize(
    ("fixture", "outcome"),
    [("postfix-delayed.eml", "delayed"), ("vacation-reply.eml", "not-a-report")],
)
async def test_what_changes_nothing_is_accepted_counted_and_dropped(fixture: str, outcome: str):
    producer = StandInProducer()
    before = counted(outcome)
    reply = await delivery(producer).deliver(
        (DSN / fixture).read_bytes(), [f"bounces+{a_token()}@{DOMAIN}"]
    )
    assert reply.startswith("250 ")
    assert producer.sent == []
    assert counted(outcome) == before + 1


async def test_a_bounce_address_without_a_valid_token_is_still_no_resident_message():
    producer = StandInProducer()
    raw = (DSN / "postfix-bounce.eml").read_bytes()
    reply = await delivery(producer).deliver(raw, [f"bounces+not-a-token@{DOMAIN}"])
    assert reply.startswith("250 ")
    assert producer.sent == []


# --- MessageBird's signature ----------------------------------------------------------------


def messagebird_jwt(*, key: bytes = KEY, url: str = URL, body: bytes = b"", **claims: Any) -> str:
    return sign_messagebird(key, url, body, **claims)


def test_a_valid_messagebird_signature_passes():
    claims = verify_messagebird(messagebird_jwt(), key=KEY, url=URL, body=b"")
    assert claims["iss"] == "MessageBird"
    body = b'{"id":"abc","status":"delivered"}'
    verify_messagebird(messagebird_jwt(body=body), key=KEY, url=URL, body=body)


@pytest.mark.parametrize(
    ("token", "url", "body"),
    [
        pytest.param(None, URL, b"", id="missing"),
        pytest.param("not.a.jwt", URL, b"", id="garbage"),
        pytest.param(
            messagebird_jwt(key=b"another-signing-key-of-32-bytes-or-more"),
            URL,
            b"",
            id="wrong key",
        ),
        pytest.param(messagebird_jwt(exp=int(time.time()) - 60), URL, b"", id="expired"),
        # An hour ahead: the token is made when the tests are collected, maybe minutes earlier.
        pytest.param(messagebird_jwt(nbf=int(time.time()) + 3600), URL, b"", id="not yet valid"),
        pytest.param(messagebird_jwt(iss="Somebody"), URL, b"", id="other issuer"),
        pytest.param(messagebird_jwt(url_hash=None), URL, b"", id="no url hash"),
        pytest.param(messagebird_jwt(), URL.replace("delivered", "failed"), b"", id="other url"),
        pytest.param(messagebird_jwt(body=b'{"a":1}'), URL, b'{"a":2}', id="tampered body"),
        pytest.param(messagebird_jwt(), URL, b'{"a":1}', id="unsigned body"),
        pytest.param(messagebird_jwt(body=b'{"a":1}'), URL, b"", id="body removed"),
    ],
)
def test_a_bad_messagebird_signature_is_refused(token: str | None, url: str, body: bytes):
    with pytest.raises(SignatureError):
        verify_messagebird(token, key=KEY, url=url, body=body)


def test_an_unsigned_algorithm_is_refused():
    unsigned = jwt.encode({"iss": "MessageBird"}, "", algorithm="none")
    with pytest.raises(SignatureError):
        verify_messagebird(unsigned, key=KEY, url=URL, body=b"")


# --- the app backend's signature --------------------------------------------------------------


def test_the_app_signature_covers_the_body_and_is_recent():
    secret, body = b"app-secret", b'{"reference":"r","status":"delivered"}'
    now = datetime.now(UTC)
    stamp = str(int(now.timestamp()))
    verify_app(sign_app(secret, body), stamp, secret=secret, body=body, now=now)
    refused = [
        (sign_app(b"other", body), stamp, body),
        (sign_app(secret, body), stamp, body + b" "),
        (sign_app(secret, body), str(int((now - timedelta(minutes=6)).timestamp())), body),
        (sign_app(secret, body), str(int((now + timedelta(minutes=6)).timestamp())), body),
        (sign_app(secret, body), "yesterday", body),
        (None, stamp, body),
        (sign_app(secret, body), None, body),
    ]
    for signature, timestamp, sent in refused:
        with pytest.raises(SignatureError):
            verify_app(signature, timestamp, secret=secret, body=sent, now=now)


# --- settings ----------------------------------------------------------------------------------


def test_webhook_keys_are_placeholders_in_development_and_refused_as_such_in_production():
    assert IngestSettings(environment="development").webhook_key("messagebird") is not None
    production: dict[str, Any] = {
        "environment": "production",
        "oin": "00000001234567890000",
        "sender_key_secret": "a-long-random-secret-for-sender-keys",
        "api_keys": {"portal": {"sha256": "ab" * 32, "channels": ["web"]}},
    }
    unset = IngestSettings(**production)
    assert unset.webhook_key("messagebird") is None  # every report refused: 401
    assert unset.webhook_key("app") is None
    for name in ("messagebird_signing_key", "app_webhook_secret"):
        with pytest.raises(ValidationError, match=name.upper()):
            IngestSettings(**(production | {name: PLACEHOLDER_SECRET}))
    configured = IngestSettings(**(production | {"app_webhook_secret": "s" * 32}))
    assert configured.webhook_key("app") == b"s" * 32
