"""Which adapter sends each channel.

``FACTORIES`` names the adapter of each channel that has one (``channels/<channel>.py``); a
channel without one is not set up here, and its deliveries fail at once with the reason
"kanaal niet ingericht" rather than wait for retries that cannot help.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.outbound.channels.base import Adapter, PermanentDeliveryError, Sent
from services.outbound.config import OutboundSettings
from shared.contracts.outbound import DeliverReply, ReplyChannel

NOT_SET_UP = "kanaal niet ingericht"

AdapterFactory = Callable[[OutboundSettings], Adapter]

# One line per channel adapter (e.g. ``ReplyChannel.EMAIL: EmailAdapter.from_settings``).
FACTORIES: dict[ReplyChannel, AdapterFactory] = {}


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


def build_adapters(
    settings: OutboundSettings, factories: Mapping[ReplyChannel, AdapterFactory] = FACTORIES
) -> dict[ReplyChannel, Adapter]:
    """The adapters of every channel that has a factory."""
    return {channel: make(settings) for channel, make in factories.items()}
