"""The e-mail adapter against real SMTP servers: Mailpit (what arrives, read back through its
API), and small aiosmtpd relays in the test that refuse (550 / 451) or never answer."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from services.outbound.channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from services.outbound.channels.email import EmailAdapter, EmailSettings
from shared.contracts.inbound import AttachmentRef
from tests.infra import MailpitAddress
from tests.mailpit import Mailpit
from tests.unit.test_outbound_email import SETTINGS, reply


def relay(host: str, port: int, **fields: Any) -> EmailSettings:
    return SETTINGS.model_copy(update={"host": host, "port": port, "starttls": "off", **fields})


@pytest.fixture
async def inbox(mailpit: MailpitAddress) -> AsyncIterator[Mailpit]:
    async with Mailpit(mailpit) as client:
        yield client


async def test_the_mail_arrives_with_its_headers(mailpit: MailpitAddress, inbox: Mailpit) -> None:
    pdf = b"%PDF-1.7 besluit"
    ref = AttachmentRef(
        sha256=hashlib.sha256(pdf).hexdigest(),
        filename="besluit.pdf",
        media_type="application/pdf",
        size=len(pdf),
    )

    async def fetch(wanted: AttachmentRef) -> bytes:
        assert wanted == ref
        return pdf

    request = reply(
        in_reply_to="laatste@mail.example.nl",
        references=["laatste@mail.example.nl", "eerste@mail.example.nl"],
        attachments=[ref],
    )
    # AUTH is exercised too: this Mailpit accepts any credentials.
    secret = SecretStr("test-wachtwoord")
    settings = relay(mailpit.smtp_host, mailpit.smtp_port, username="eenloket", password=secret)
    sent = await EmailAdapter(settings, fetch).send(request)

    assert sent.reference == f"{request.reply_id}@mail.gemeente-test.nl"
    [mail] = await inbox.wait_for(sent.reference)
    assert mail.header("Message-ID") == f"<{sent.reference}>"
    assert mail.header("Subject") == "Uw melding over de lantaarnpaal"
    assert mail.header("From") == "Gemeente Test <info@gemeente-test.nl>"
    assert mail.header("To") == f"Jan de Vries <{request.address}>"
    assert mail.header("Reply-To") == f"antwoord+{request.token}@mail.gemeente-test.nl"
    assert mail.header("In-Reply-To") == "<laatste@mail.example.nl>"
    assert mail.header("References") == "<eerste@mail.example.nl> <laatste@mail.example.nl>"
    # The envelope sender (VERP), as the receiving server recorded it.
    assert mail.header("Return-Path") == f"<bounces+{request.token}@mail.gemeente-test.nl>"
    assert mail.header("Auto-Submitted") is None
    assert mail.summary["Text"].replace("\r\n", "\n") == request.text
    assert [a["FileName"] for a in mail.summary["Attachments"]] == ["besluit.pdf"]
    assert mail.summary["Username"] == "eenloket"  # it logged in


async def test_a_resend_carries_the_same_message_id(
    mailpit: MailpitAddress, inbox: Mailpit
) -> None:
    """A crash between the relay's acceptance and our record sends it again: the resident's
    mail client sees the same Message-ID twice and shows one mail."""
    request = reply()
    adapter = EmailAdapter(relay(mailpit.smtp_host, mailpit.smtp_port))
    first = await adapter.send(request)
    second = await adapter.send(request)
    assert first == second
    mails = await inbox.wait_for(first.reference, count=2)
    assert {m.header("Message-ID") for m in mails} == {f"<{first.reference}>"}


async def test_starttls_required_but_not_offered_is_retried(mailpit: MailpitAddress) -> None:
    settings = relay(mailpit.smtp_host, mailpit.smtp_port, starttls="required")
    with pytest.raises(TemporaryDeliveryError):
        await EmailAdapter(settings).send(reply())


class Refusing:
    """An aiosmtpd handler that answers every RCPT TO with ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self.answer.format(address=address)


async def send_to_refusing(answer: str) -> DeliveryError:
    """What the adapter raises when the relay answers RCPT TO with ``answer``."""
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(Refusing(answer), hostname="relay.test"), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    request = reply()
    try:
        with pytest.raises(DeliveryError) as caught:
            await EmailAdapter(relay("127.0.0.1", port)).send(request)
    finally:
        server.close()
        await server.wait_closed()
    assert request.address not in caught.value.reason  # the server quoted it; staff see none
    return caught.value


async def test_a_5xx_refusal_fails_the_reply_with_the_server_s_text() -> None:
    refused = await send_to_refusing("550 5.1.1 <{address}>: Recipient address rejected")
    assert isinstance(refused, PermanentDeliveryError)
    assert refused.reason == (
        "SMTP-server antwoordde 550: 5.1.1 <<ontvanger>>: Recipient address rejected"
    )


async def test_a_4xx_answer_is_retried() -> None:
    deferred = await send_to_refusing("451 4.7.1 Greylisted, please try again later")
    assert isinstance(deferred, TemporaryDeliveryError)
    assert deferred.reason == "SMTP-server antwoordde 451: 4.7.1 Greylisted, please try again later"


async def test_a_closed_port_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TemporaryDeliveryError, match="niet bereikbaar"):
            await EmailAdapter(relay("127.0.0.1", port)).send(reply())


async def test_a_relay_that_never_answers_times_out_and_is_retried() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # no greeting, ever
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TemporaryDeliveryError, match="Timeout"):
            await EmailAdapter(relay("127.0.0.1", port, timeout_seconds=0.5)).send(reply())
    finally:
        server.close()
        await server.wait_closed()
