"""Which adapter sends each channel.

``FACTORIES`` names the adapter of each channel that has one (``channels/<channel>.py``); a
channel without one is not set up here, and its deliveries fail at once with the reason
"kanaal niet ingericht" rather than wait for retries that cannot help.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.outbound.channels.app import AppAdapter, AppWebhookSettings
from services.outbound.channels.base import Adapter, PermanentDeliveryError, Sent
from services.outbound.channels.chat import ChatAdapter, ChatWebhookSettings
from services.outbound.channels.email import EmailAdapter
from services.outbound.channels.letter import LetterAdapter, LetterSettings
from services.outbound.channels.sms import MessageBirdSettings, SmsAdapter
from services.outbound.config import OutboundSettings
from shared.attachments import open_attachment_store
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import DeliverReply, ReplyChannel

NOT_SET_UP = "kanaal niet ingericht"

# A channel's adapter from the settings, or None when the channel is not configured.
AdapterFactory = Callable[[OutboundSettings], Adapter | None]


def _email(s: OutboundSettings) -> Adapter:
    store = open_attachment_store(s)

    async def fetch(ref: AttachmentRef) -> bytes:
        # KeyError (no such blob) fails the reply; OSError (store unreachable) is retried.
        return await store.get(ref.sha256)

    return EmailAdapter(s.relay, fetch)


def _sms(s: OutboundSettings) -> Adapter | None:
    if s.messagebird_access_key is None:
        return None
    return SmsAdapter(
        MessageBirdSettings(
            access_key=s.messagebird_access_key.get_secret_value(),
            originator=s.messagebird_originator,
            report_url=s.messagebird_report_url,
            base_url=s.messagebird_base_url,
        )
    )


def _app(s: OutboundSettings) -> Adapter | None:
    if not s.app_webhook_url:
        return None
    secret = s.app_webhook_secret.get_secret_value().encode()
    source = s.source("eenloket-outbound")
    return AppAdapter(AppWebhookSettings(url=s.app_webhook_url, secret=secret, source=source))


def _chat(s: OutboundSettings) -> Adapter | None:
    if not s.chat_webhook_url:
        return None
    secret = s.chat_webhook_secret.get_secret_value().encode()
    return ChatAdapter(ChatWebhookSettings(url=s.chat_webhook_url, secret=secret))


def _letter(s: OutboundSettings) -> Adapter | None:
    if s.letter_dir is None:
        return None
    return LetterAdapter(
        LetterSettings(
            directory=s.letter_dir, municipality=s.letter_municipality, address=s.letter_address
        )
    )


FACTORIES: dict[ReplyChannel, AdapterFactory] = {
    ReplyChannel.EMAIL: _email,
    ReplyChannel.SMS: _sms,
    ReplyChannel.APP: _app,
    ReplyChannel.CHAT: _chat,
    ReplyChannel.LETTER: _letter,
}


class NotSetUp:
    """The adapter of a channel without one: every send fails permanently."""

    async def send(self, request: DeliverReply) -> Sent:
        raise PermanentDeliveryError(NOT_SET_UP)


class Adapters:
    """The adapters by channel; ``NotSetUp`` for a channel that has none."""

    def __init__(self, adapters: Mapping[ReplyChannel, Adapter]) -> None:
        self._adapters = dict(adapters)
        self._missing = NotSetUp()

    def __getitem__(self, channel: ReplyChannel) -> Adapter:
        return self._adapters.get(channel, self._missing)

    def channels(self) -> frozenset[ReplyChannel]:
        return frozenset(self._adapters)

    async def aclose(self) -> None:
        """Close what the adapters hold open (HTTP clients, kept SMTP connections)."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "aclose", None)
            if close is not None:
                await close()


def build_adapters(
    settings: OutboundSettings, factories: Mapping[ReplyChannel, AdapterFactory] = FACTORIES
) -> dict[ReplyChannel, Adapter]:
    """The adapters of every channel that is configured."""
    made = {channel: make(settings) for channel, make in factories.items()}
    return {channel: adapter for channel, adapter in made.items() if adapter is not None}
