"""The outbound adapters' pure parts: the letter's PDF (rendered to pixels), SMS parts and
request, the webhook signature, the app's CloudEvent, MessageBird's report JWT (the fake's)."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pypdfium2 as pdfium
import pytest

from services.outbound.channels.app import AppWebhookSettings, cloudevent
from services.outbound.channels.base import PermanentDeliveryError, TemporaryDeliveryError
from services.outbound.channels.letter import (
    MAX_ADDRESS_LINES,
    WINDOW_HEIGHT,
    WINDOW_LEFT,
    WINDOW_TOP,
    WINDOW_WIDTH,
    LetterAdapter,
    LetterSettings,
    address_lines,
    dutch_date,
)
from services.outbound.channels.sms import (
    MessageBirdSettings,
    error_description,
    msisdn,
    request_body,
    sms_parts,
)
from services.outbound.channels.webhook import (
    raise_for_status,
    signature_valid,
    signed_headers,
)
from shared.contracts.outbound import DeliverReply, ReplyChannel, ReplyStatus, reply_token
from shared.envelope import CloudEvent, source_urn
from tests.fakes.messagebird import signature_jwt

MM_PER_INCH = 25.4


def deliver(channel: ReplyChannel, address: str, **changes: object) -> DeliverReply:
    reply_id = uuid.uuid4()
    fields: dict[str, object] = {
        "reply_id": reply_id,
        "case_id": uuid.uuid4(),
        "case_number": f"Z-2026-{uuid.uuid4().int % 10**6:06d}",
        "party_id": uuid.uuid4(),
        "channel": channel,
        "address": address,
        "subject": "Uw vraag over de afvalpas",
        "text": "Beste mevrouw,\n\nUw nieuwe afvalpas is onderweg. " * 12,
        "attachments": [],
        "token": reply_token(b"test-key", reply_id),
        "requested_at": datetime(2026, 3, 2, 23, 30, tzinfo=UTC),
    }
    return DeliverReply.model_validate(fields | changes)


def letter_settings(directory: Path) -> LetterSettings:
    return LetterSettings(
        directory=directory,
        municipality="Gemeente Tilburg",
        address=("Stadhuisplein 130", "5038 TC Tilburg"),
    )


def test_letter_is_written_atomically_with_the_address_in_the_window(tmp_path: Path) -> None:
    request = deliver(ReplyChannel.LETTER, "Mevrouw J. de Vriës\nKerkstraat 12, 5038 AB Tilburg")

    sent = LetterAdapter(letter_settings(tmp_path)).write(request)

    assert sent.reference == f"{request.reply_id}.pdf"
    assert sent.status is ReplyStatus.HANDED_TO_PRINT
    assert [path.name for path in tmp_path.iterdir()] == [sent.reference]  # no temp file left
    document = pdfium.PdfDocument(tmp_path / sent.reference)
    page = document[0]
    text = page.get_textpage().get_text_range()
    assert request.case_number in text
    assert "Ons kenmerk" in text
    assert "Mevrouw J. de Vriës" in text
    assert "3 maart 2026" in text  # 23:30 UTC is the next day in the Netherlands

    # The window's pixels: ink where the address is, nothing left of the window.
    scale = 4.0
    image = page.render(scale=scale).to_pil().convert("L")
    document.close()

    def px(mm: float) -> int:
        return round(mm / MM_PER_INCH * 72 * scale)

    window = image.crop(
        (
            px(WINDOW_LEFT),
            px(WINDOW_TOP),
            px(WINDOW_LEFT + WINDOW_WIDTH),
            px(WINDOW_TOP + WINDOW_HEIGHT),
        )
    )
    margin = image.crop((0, px(WINDOW_TOP), px(WINDOW_LEFT) - 2, px(WINDOW_TOP + WINDOW_HEIGHT)))
    assert window.getextrema()[0] < 100, "the address block is blank"
    assert sum(window.histogram()[:128]) > 500
    assert margin.getextrema() == (255, 255), "something is printed left of the window"


def test_a_retry_writes_the_same_letter_over_the_same_name(tmp_path: Path) -> None:
    adapter = LetterAdapter(letter_settings(tmp_path))
    request = deliver(ReplyChannel.LETTER, "Dhr. P. Jansen, Hoofdstraat 1, 1234 AB Ergens")

    first = adapter.write(request).reference
    content = (tmp_path / first).read_bytes()
    second = adapter.write(request).reference

    assert first == second
    assert list(tmp_path.iterdir()) == [tmp_path / first]
    assert (tmp_path / second).read_bytes() == content


async def test_letter_problems_are_permanent_or_temporary(tmp_path: Path) -> None:
    adapter = LetterAdapter(letter_settings(tmp_path))
    too_long = "\n".join(f"regel {n}" for n in range(MAX_ADDRESS_LINES + 1))
    with pytest.raises(PermanentDeliveryError, match="venster"):
        await adapter.send(deliver(ReplyChannel.LETTER, too_long))
    with pytest.raises(PermanentDeliveryError, match="postadres"):
        await adapter.send(deliver(ReplyChannel.LETTER, " , \n"))
    missing = LetterAdapter(letter_settings(tmp_path / "not-mounted"))
    with pytest.raises(TemporaryDeliveryError, match="printstraatmap"):
        await missing.send(deliver(ReplyChannel.LETTER, "A, B"))


def test_a_text_beyond_the_core_font_still_renders(tmp_path: Path) -> None:
    request = deliver(
        ReplyChannel.LETTER, "A\nB", text="Emoji 😀, Turks ş, Euro € en “aanhalingstekens”"
    )
    sent = LetterAdapter(letter_settings(tmp_path)).write(request)
    document = pdfium.PdfDocument(tmp_path / sent.reference)
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert "Euro € en “aanhalingstekens”" in text


def test_address_lines_and_date() -> None:
    assert address_lines("Mw. A. Bakker\r\nDorpsstraat  3 ,1234 AB  Dorp\n") == [
        "Mw. A. Bakker",
        "Dorpsstraat 3",
        "1234 AB Dorp",
    ]
    assert dutch_date(datetime(2026, 7, 1, 12, tzinfo=UTC)) == "1 juli 2026"


def test_sms_parts_as_messagebird_bills_them() -> None:
    assert sms_parts("a" * 160) == 1
    assert sms_parts("a" * 161) == 2
    assert sms_parts("a" * 306) == 2
    assert sms_parts("a" * 307) == 3
    assert sms_parts("€" * 80) == 1  # an extension character counts twice
    assert sms_parts("€" * 81) == 2
    assert sms_parts("ë" * 70) == 1  # not GSM-7: UCS-2
    assert sms_parts("ë" * 71) == 2
    assert sms_parts("ë" * 134) == 2
    assert sms_parts("ë" * 135) == 3


def test_sms_request_carries_the_token_as_reference_and_no_subject() -> None:
    settings = MessageBirdSettings(
        access_key="test",
        originator="Tilburg",
        report_url="https://ingest/v1/delivery-reports/messagebird",
    )
    request = deliver(ReplyChannel.SMS, "+31612345678")
    body = request_body(settings, request)
    assert body == {
        "originator": "Tilburg",
        "recipients": ["31612345678"],
        "body": request.text,
        "reference": request.token,
        "reportUrl": settings.report_url,
        "datacoding": "auto",
    }
    assert request.case_number not in str(body["reference"])
    with pytest.raises(PermanentDeliveryError):
        msisdn("06-12345678")


def test_messagebird_errors_become_its_description() -> None:
    response = httpx.Response(
        422,
        json={
            "errors": [
                {
                    "code": 9,
                    "description": "no (correct) recipients found",
                    "parameter": "recipient",
                }
            ]
        },
    )
    assert (
        error_description(response)
        == "no (correct) recipients found (parameter recipient) [code 9]"
    )
    assert error_description(httpx.Response(502, text="<html>Bad gateway</html>")) is None
    with pytest.raises(PermanentDeliveryError, match="code 9"):
        raise_for_status(response, provider="MessageBird", reason=error_description(response))
    for status in (500, 503, 429):
        with pytest.raises(TemporaryDeliveryError):
            raise_for_status(httpx.Response(status), provider="MessageBird")


def test_webhook_signature_verifies_and_refuses_tampering_and_age() -> None:
    secret = uuid.uuid4().bytes
    body = b'{"id":"1"}'
    now = time.time()
    headers = signed_headers(secret, body, now=now)
    signature, stamp = headers["X-Eenloket-Signature"], headers["X-Eenloket-Timestamp"]

    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert signature_valid(secret, body, signature, stamp, now=now)
    assert not signature_valid(secret, body + b" ", signature, stamp, now=now)
    assert not signature_valid(b"other", body, signature, stamp, now=now)
    assert not signature_valid(secret, body, signature, stamp, now=now + 301)
    assert not signature_valid(secret, body, None, stamp, now=now)
    assert not signature_valid(secret, body, signature, "gisteren", now=now)


def test_app_event_is_a_cloudevent_with_the_reply_id() -> None:
    settings = AppWebhookSettings(
        url="http://app", secret=b"s", source=source_urn("0" * 20, "eenloket-outbound")
    )
    request = deliver(ReplyChannel.APP, "999993653")
    event = CloudEvent.model_validate(cloudevent(settings, request))
    assert str(event.id) == str(request.reply_id)
    assert str(event.subject) == str(request.case_id)
    assert event.type == "nl.eenloket.reply.app-message"
    assert event.data["case_number"] == request.case_number
    assert event.data["text"] == request.text


def test_messagebird_report_jwt_carries_the_documented_claims() -> None:
    url = "https://ingest.example/v1/delivery-reports/messagebird?id=abc&status=delivered"
    key = uuid.uuid4().hex
    token = signature_jwt(key, url)
    claims = jwt.decode(token, key, algorithms=["HS256"], issuer="MessageBird")
    assert claims["url_hash"] == hashlib.sha256(url.encode()).hexdigest()
    assert "payload_hash" not in claims
    assert {"nbf", "exp", "jti"} <= claims.keys()
    with_body = jwt.decode(
        signature_jwt(key, url, b"{}"), key, algorithms=["HS256"], issuer="MessageBird"
    )
    assert with_body["payload_hash"] == hashlib.sha256(b"{}").hexdigest()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, uuid.uuid4().hex, algorithms=["HS256"])
