"""The SMS, app and chat adapters against their fake providers over real HTTP: what arrives,
and how each answer (2xx, 4xx, 5xx, a hang, an ended session) becomes ``Sent`` or an error."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.outbound.channels.app import AppAdapter, AppWebhookSettings
from services.outbound.channels.base import PermanentDeliveryError, TemporaryDeliveryError
from services.outbound.channels.chat import ChatAdapter, ChatWebhookSettings, SessionEndedError
from services.outbound.channels.sms import MessageBirdSettings, SmsAdapter
from shared.contracts.outbound import DeliverReply, ReplyChannel, ReplyStatus, reply_token
from shared.envelope import CONTENT_TYPE, source_urn
from tests.fakes.messagebird import MessageBird
from tests.fakes.webhooks import AppBackend, ChatPlatform, serving


def deliver(channel: ReplyChannel, address: str) -> DeliverReply:
    reply_id = uuid.uuid4()
    return DeliverReply(
        reply_id=reply_id,
        case_id=uuid.uuid4(),
        case_number=f"Z-2026-{uuid.uuid4().int % 10**6:06d}",
        party_id=uuid.uuid4(),
        channel=channel,
        address=address,
        subject="Uw melding",
        text="Wij hebben uw melding opgelost.",
        attachments=[],
        token=reply_token(uuid.uuid4().bytes, reply_id),
        requested_at=datetime.now(UTC),
    )


@pytest.fixture
async def messagebird() -> AsyncIterator[tuple[MessageBird, SmsAdapter, MessageBirdSettings]]:
    fake = MessageBird(access_key=uuid.uuid4().hex, signing_key=uuid.uuid4().hex)
    async with serving(fake.app) as url:
        settings = MessageBirdSettings(
            access_key=fake.access_key,
            originator="Tilburg",
            report_url=f"{url}/reports",
            base_url=url,
            timeout_seconds=5,
        )
        adapter = SmsAdapter(settings)
        yield fake, adapter, settings
        await adapter.aclose()


@pytest.fixture
async def app_backend() -> AsyncIterator[tuple[AppBackend, AppAdapter]]:
    fake = AppBackend(secret=uuid.uuid4().bytes)
    async with serving(fake.app) as url:
        settings = AppWebhookSettings(
            url=f"{url}/events",
            secret=fake.secret,
            source=source_urn("0" * 20, "eenloket-outbound"),
            timeout_seconds=1,
        )
        adapter = AppAdapter(settings)
        yield fake, adapter
        await adapter.aclose()
        fake.release()


@pytest.fixture
async def chat() -> AsyncIterator[tuple[ChatPlatform, ChatAdapter]]:
    fake = ChatPlatform(secret=uuid.uuid4().bytes)
    async with serving(fake.app) as url:
        adapter = ChatAdapter(ChatWebhookSettings(url=f"{url}/replies", secret=fake.secret))
        yield fake, adapter
        await adapter.aclose()
        fake.release()


async def test_sms_is_sent_with_the_token_as_reference(messagebird) -> None:
    fake, adapter, _ = messagebird
    request = deliver(ReplyChannel.SMS, "+31612345678")

    sent = await adapter.send(request)

    [message] = fake.messages
    assert sent.reference == message.id
    assert sent.status is ReplyStatus.SENT
    assert message.request["reference"] == request.token
    assert message.request["recipients"] == ["31612345678"]
    assert message.request["body"] == request.text
    assert message.request["originator"] == "Tilburg"


async def test_sms_4xx_fails_with_messagebirds_description(messagebird) -> None:
    fake, adapter, settings = messagebird
    fake.fail_next(422, 9, "no (correct) recipients found", "recipients")
    with pytest.raises(PermanentDeliveryError, match=r"no \(correct\) recipients found"):
        await adapter.send(deliver(ReplyChannel.SMS, "+31612345678"))
    wrong_key = SmsAdapter(dataclasses.replace(settings, access_key="wrong"))
    with pytest.raises(PermanentDeliveryError, match="incorrect access_key"):
        await wrong_key.send(deliver(ReplyChannel.SMS, "+31612345678"))
    await wrong_key.aclose()
    assert fake.messages == []


async def test_sms_5xx_and_an_unreachable_provider_are_temporary(messagebird) -> None:
    fake, adapter, settings = messagebird
    fake.fail_next(503, 99, "Internal error")
    with pytest.raises(TemporaryDeliveryError, match="Internal error"):
        await adapter.send(deliver(ReplyChannel.SMS, "+31612345678"))
    closed = SmsAdapter(dataclasses.replace(settings, base_url="http://127.0.0.1:9"))
    with pytest.raises(TemporaryDeliveryError, match="niet bereikbaar"):
        await closed.send(deliver(ReplyChannel.SMS, "+31612345678"))
    await closed.aclose()


async def test_messagebird_fake_sends_a_signed_status_report(messagebird) -> None:
    fake, adapter, _ = messagebird
    await adapter.send(deliver(ReplyChannel.SMS, "+31612345678"))
    [message] = fake.messages
    received: list[httpx.Request] = []

    async with serving(_recorder(received)) as url:
        report_url = fake.status_report_url(
            message,
            "delivery_failed",
            reason="unknown subscriber",
            error_code=1,
            report_url=f"{url}/r",
        )
        response = await fake.send_status_report(report_url)

    assert response.status_code == 200
    [report] = received
    assert report.method == "GET"
    assert report.url.params["reference"] == message.request["reference"]
    assert report.url.params["status"] == "delivery_failed"
    assert report.url.params["statusErrorCode"] == "1"
    assert report.headers["MessageBird-Signature-JWT"].count(".") == 2


def _recorder(received: list[httpx.Request]) -> Starlette:
    """A report URL that keeps each request it gets."""

    async def record(request: Request) -> Response:
        received.append(
            httpx.Request(request.method, str(request.url), headers=dict(request.headers))
        )
        return Response(status_code=200)

    return Starlette(routes=[Route("/r", record)])


async def test_app_event_arrives_signed_once_per_reply(app_backend) -> None:
    fake, adapter = app_backend
    request = deliver(ReplyChannel.APP, "999993653")

    first = await adapter.send(request)
    second = await adapter.send(request)  # a retry after a crash: the same event

    assert first == second
    assert first.reference == str(request.reply_id)
    assert [r.signature_ok for r in fake.received] == [True, True]
    assert fake.received[0].headers["content-type"] == CONTENT_TYPE
    assert fake.received[0].body == fake.received[1].body
    assert list(fake.events) == [str(request.reply_id)]
    assert fake.events[str(request.reply_id)].data["text"] == request.text


async def test_app_4xx_is_permanent_5xx_and_timeout_temporary(app_backend) -> None:
    fake, adapter = app_backend
    fake.fail_next(400, "onbekende ontvanger")
    with pytest.raises(PermanentDeliveryError, match="onbekende ontvanger"):
        await adapter.send(deliver(ReplyChannel.APP, "999993653"))
    fake.fail_next(502, "upstream")
    with pytest.raises(TemporaryDeliveryError, match="upstream"):
        await adapter.send(deliver(ReplyChannel.APP, "999993653"))
    fake.hang_next()
    with pytest.raises(TemporaryDeliveryError, match="geen antwoord"):
        await adapter.send(deliver(ReplyChannel.APP, "999993653"))
    assert fake.events == {}


async def test_chat_reply_is_posted_into_the_session(chat) -> None:
    fake, adapter = chat
    session = f"chat-{uuid.uuid4().hex}"
    request = deliver(ReplyChannel.CHAT, session)

    sent = await adapter.send(request)
    await adapter.send(request)

    assert sent.reference == str(request.reply_id)
    assert fake.posted == {session: [str(request.reply_id)]}
    assert all(r.signature_ok for r in fake.received)
    assert fake.received[0].json() == {
        "session": session,
        "message_id": str(request.reply_id),
        "text": request.text,
    }


async def test_chat_session_ended_4xx_and_5xx(chat) -> None:
    fake, adapter = chat
    session = f"chat-{uuid.uuid4().hex}"
    fake.end_session(session)
    with pytest.raises(SessionEndedError, match="beëindigd"):
        await adapter.send(deliver(ReplyChannel.CHAT, session))
    fake.fail_next(404, "onbekende sessie")
    with pytest.raises(PermanentDeliveryError, match="onbekende sessie") as error:
        await adapter.send(deliver(ReplyChannel.CHAT, "chat-x"))
    assert not isinstance(error.value, SessionEndedError)
    fake.fail_next(500, "storing")
    with pytest.raises(TemporaryDeliveryError, match="storing"):
        await adapter.send(deliver(ReplyChannel.CHAT, "chat-x"))
    assert fake.posted == {}
