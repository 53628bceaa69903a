"""The e-mail adapter's message: headers, threading, Reply-To and bounce address, refusals, DKIM.

Everything here is built in memory; tests/integration/test_outbound_email.py sends it."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from services.outbound.channels.base import PermanentDeliveryError, TemporaryDeliveryError
from services.outbound.channels.email import EmailAdapter, EmailSettings, envelope_sender
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import DeliverReply, ReplyChannel, reply_token

SETTINGS = EmailSettings(
    host="127.0.0.1",
    port=2525,
    from_address="info@gemeente-test.nl",
    from_name="Gemeente Test",
    mail_domain="mail.gemeente-test.nl",
)


def reply(**overrides: Any) -> DeliverReply:
    reply_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "reply_id": reply_id,
        "case_id": uuid.uuid4(),
        "case_number": "Z-2026-000123",
        "party_id": uuid.uuid4(),
        "channel": ReplyChannel.EMAIL,
        "address": f"bewoner-{uuid.uuid4().hex[:8]}@example.nl",
        "display_name": "Jan de Vries",
        "subject": "Uw melding over de lantaarnpaal",
        "text": "Beste heer De Vries,\n\nWe repareren de lantaarnpaal deze week. Één keer.\n",
        "attachments": [],
        "token": reply_token(b"test-key", reply_id),
        "requested_at": datetime(2026, 3, 4, 10, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return DeliverReply(**fields)


async def rendered(
    request: DeliverReply, adapter: EmailAdapter | None = None
) -> tuple[bytes, EmailMessage]:
    data = await (adapter or EmailAdapter(SETTINGS)).render(request)
    return data, message_from_bytes(data, policy=policy.default)


async def test_headers_name_the_reply_and_its_sender() -> None:
    request = reply()
    data, msg = await rendered(request)
    assert msg["Subject"] == "Uw melding over de lantaarnpaal"
    assert msg["From"] == "Gemeente Test <info@gemeente-test.nl>"
    assert msg["To"] == f"Jan de Vries <{request.address}>"
    assert msg["Date"] == "Wed, 04 Mar 2026 10:30:00 +0000"
    assert msg["Message-ID"] == f"<{request.reply_id}@mail.gemeente-test.nl>"
    assert msg["Reply-To"] == f"antwoord+{request.token}@mail.gemeente-test.nl"
    assert msg["Auto-Submitted"] is None  # a person wrote it
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == request.text
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only, as SMTP wants


async def test_the_same_reply_renders_to_the_same_bytes() -> None:
    """A resend after a crash is the same mail: same Message-ID, same Date, same body."""
    request = reply()
    first, _ = await rendered(request)
    second, _ = await rendered(request)
    assert first == second


async def test_bounces_go_to_the_reply_s_own_address() -> None:
    request = reply()
    assert envelope_sender(SETTINGS, request) == f"bounces+{request.token}@mail.gemeente-test.nl"


async def test_without_subject_the_case_number_is_the_subject() -> None:
    _, msg = await rendered(reply(subject=None))
    assert msg["Subject"] == "Antwoord op uw bericht (zaak Z-2026-000123)"


async def test_non_ascii_display_name_and_subject_are_encoded() -> None:
    request = reply(display_name="Zoë Çelik", subject="Uw aanvraag — één vraag")
    data, msg = await rendered(request)
    assert data.isascii()
    assert msg["To"] == f"Zoë Çelik <{request.address}>"
    assert msg["Subject"] == "Uw aanvraag — één vraag"


async def test_threading_ends_with_the_resident_s_last_message() -> None:
    """The contract lists the resident's Message-IDs last first; References lists them
    oldest first and ends with the parent (RFC 5322 3.6.4); brackets are added where missing."""
    request = reply(
        in_reply_to="laatste@mail.example.nl",
        references=["<laatste@mail.example.nl>", "tweede@mail.example.nl", "<eerste@x.nl>"],
    )
    _, msg = await rendered(request)
    assert msg["In-Reply-To"] == "<laatste@mail.example.nl>"
    assert msg["References"].split() == [
        "<eerste@x.nl>",
        "<tweede@mail.example.nl>",
        "<laatste@mail.example.nl>",
    ]


async def test_no_threading_headers_without_a_resident_message() -> None:
    _, msg = await rendered(reply())
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hallo\r\nBcc: iedereen@example.nl"},
        {"subject": "Hallo\nBcc: iedereen@example.nl"},
        {"display_name": "Jan\r\nBcc: iedereen@example.nl"},
        {"address": "jan@example.nl\r\nBcc: iedereen@example.nl"},
        {"address": "jan@example.nl>\r\nRCPT TO:<iedereen@example.nl"},
        {"in_reply_to": "a@b\r\nBcc: iedereen@example.nl"},
        {"references": ["a@b", "c@d\nBcc: iedereen@example.nl"]},
        {"subject": "nul\x00byte"},
    ],
    ids=[
        "subject-crlf",
        "subject-lf",
        "name",
        "address",
        "address-smtp",
        "in-reply-to",
        "references",
        "nul",
    ],
)
async def test_line_breaks_in_a_header_value_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(PermanentDeliveryError) as refused:
        await EmailAdapter(SETTINGS).render(reply(**overrides))
    assert "iedereen" not in refused.value.reason


@pytest.mark.parametrize(
    "overrides",
    [
        {"address": "geen adres"},
        {"address": "jan@@example.nl"},
        {"address": "jän@example.nl"},
        {"token": "NIET-BASE32"},
        {"in_reply_to": "met spatie@example.nl"},
        {"channel": ReplyChannel.SMS},
    ],
    ids=["no-at", "two-at", "non-ascii-local", "token", "message-id", "channel"],
)
async def test_what_cannot_become_a_mail_fails_permanently(overrides: dict[str, Any]) -> None:
    with pytest.raises(PermanentDeliveryError):
        await EmailAdapter(SETTINGS).render(reply(**overrides))


async def test_an_international_domain_is_sent_in_its_ascii_form() -> None:
    _, msg = await rendered(reply(address="jan@café.nl", display_name=None))
    assert msg["To"] == "jan@xn--caf-dma.nl"


def attachment(
    data: bytes, filename: str | None = "besluit.pdf", media: str = "application/pdf"
) -> AttachmentRef:
    return AttachmentRef(
        sha256=hashlib.sha256(data).hexdigest(), filename=filename, media_type=media, size=len(data)
    )


class FakeStore:
    """The attachment store's ``get`` as the adapter's ``fetch``: KeyError when missing."""

    def __init__(self, *blobs: bytes, broken: bool = False) -> None:
        self.blobs = {hashlib.sha256(b).hexdigest(): b for b in blobs}
        self.broken = broken

    async def fetch(self, ref: AttachmentRef) -> bytes:
        if self.broken:
            raise OSError("store did not answer")
        return self.blobs[ref.sha256]


async def test_attachments_are_fetched_and_attached() -> None:
    pdf, photo = b"%PDF-1.7 besluit", b"\x89PNG foto"
    store = FakeStore(pdf, photo)
    request = reply(
        attachments=[attachment(pdf), attachment(photo, "foto.png", "image/png; x=y")],
    )
    _, msg = await rendered(request, EmailAdapter(SETTINGS, store.fetch))
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == request.text
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["besluit.pdf", "foto.png"]
    assert [p.get_content_type() for p in parts] == ["application/pdf", "image/png"]
    assert [p.get_content() for p in parts] == [pdf, photo]


async def test_an_attachment_filename_with_a_line_break_is_refused() -> None:
    data = b"inhoud"
    store = FakeStore(data)
    with pytest.raises(PermanentDeliveryError):
        await EmailAdapter(SETTINGS, store.fetch).render(
            reply(attachments=[attachment(data, "a.pdf\r\nBcc: x@y.nl")])
        )


async def test_attachment_trouble_is_told_apart() -> None:
    data = b"inhoud"
    request = reply(attachments=[attachment(data)])
    with pytest.raises(PermanentDeliveryError, match="niet \\(meer\\) in de opslag"):
        await EmailAdapter(SETTINGS, FakeStore().fetch).render(request)
    with pytest.raises(TemporaryDeliveryError, match="niet bereikbaar"):
        await EmailAdapter(SETTINGS, FakeStore(data, broken=True).fetch).render(request)
    corrupt = FakeStore()
    corrupt.blobs[hashlib.sha256(data).hexdigest()] = b"iets anders"
    with pytest.raises(PermanentDeliveryError, match="beschadigd"):
        await EmailAdapter(SETTINGS, corrupt.fetch).render(request)
    with pytest.raises(PermanentDeliveryError, match="geen opslag"):
        await EmailAdapter(SETTINGS).render(request)


def dkim_key(tmp_path: Path) -> tuple[Path, bytes]:
    """A private key file and the DNS TXT record that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


async def test_dkim_signature_verifies_against_the_public_key(tmp_path: Path) -> None:
    path, record = dkim_key(tmp_path)
    settings = SETTINGS.model_copy(
        update={
            "dkim_selector": "eenloket",
            "dkim_domain": "gemeente-test.nl",
            "dkim_private_key_path": path,
        }
    )
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record

    request = reply(in_reply_to="laatste@mail.example.nl")
    data, msg = await rendered(request, EmailAdapter(settings))
    assert msg["DKIM-Signature"] is not None
    assert "d=gemeente-test.nl" in msg["DKIM-Signature"]
    assert dkim.verify(data, dnsfunc=dns)
    assert asked == [b"eenloket._domainkey.gemeente-test.nl."]
    # A changed subject or body no longer verifies.
    assert not dkim.verify(data.replace(b"lantaarnpaal", b"lantaarnpalen", 1), dnsfunc=dns)
    assert not dkim.verify(data.replace(b"repareren", b"vervangen"), dnsfunc=dns)


def test_a_dkim_key_that_cannot_sign_fails_at_start(tmp_path: Path) -> None:
    path = tmp_path / "kapot.pem"
    path.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nnee\n-----END RSA PRIVATE KEY-----\n")
    settings = SETTINGS.model_copy(
        update={
            "dkim_selector": "s",
            "dkim_domain": "gemeente-test.nl",
            "dkim_private_key_path": path,
        }
    )
    with pytest.raises(ValueError, match="DKIM key cannot sign"):
        EmailAdapter(settings)


def test_settings_come_from_eenloket_smtp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EENLOKET_RELAY_HOST", "relay.gemeente-test.nl")
    monkeypatch.setenv("EENLOKET_RELAY_PORT", "587")
    monkeypatch.setenv("EENLOKET_RELAY_STARTTLS", "required")
    monkeypatch.setenv("EENLOKET_RELAY_PASSWORD", "geheim")
    monkeypatch.setenv("EENLOKET_RELAY_MAIL_DOMAIN", "mail.gemeente-test.nl")
    settings = EmailSettings()
    assert (settings.host, settings.port, settings.starttls) == (
        "relay.gemeente-test.nl",
        587,
        "required",
    )
    assert settings.password is not None
    assert "geheim" not in repr(settings)
    assert settings.mail_domain == "mail.gemeente-test.nl"


@pytest.mark.parametrize(
    "fields",
    [
        {"mail_domain": "geen domein"},
        {"from_name": "Gemeente\r\nBcc: x@y.nl"},
        {"from_address": "geen adres"},
        {"dkim_selector": "s"},  # without domain and key
        {"starttls": "misschien"},
    ],
)
def test_settings_refuse_what_would_break_every_mail(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EmailSettings(**fields)


def test_the_faster_policy_writes_the_same_bytes_as_smtps() -> None:
    """MAIL_POLICY only remembers header classes: a mail with non-ASCII names and threading is
    byte for byte what ``policy.SMTP`` writes."""
    from services.outbound.channels.email import MAIL_POLICY, build_message

    request = reply(
        display_name="Zoë Ünal-Çelik",
        subject="Uw vraag over de afvalstoffenheffing: één antwoord",
        in_reply_to="abc@example.nl",
        references=["abc@example.nl", "def@example.nl"],
    )
    message = build_message(SETTINGS, request, [])
    assert message.as_bytes(policy=MAIL_POLICY) == message.as_bytes(policy=policy.SMTP)
    assert b"=?utf-8?" in message.as_bytes(policy=MAIL_POLICY)  # the names were encoded
