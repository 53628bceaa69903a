"""What every channel adapter offers the delivery worker, and how it says what went wrong.

An adapter sends one ``DeliverReply`` and returns the provider's reference (an e-mail's
``Message-ID``, the SMS provider's message id, the print file's name). It derives every
identifier it sends from the reply id, so a retry after a crash sends the *same* message
(the provider or the resident's mail client can tell it is a duplicate).

Errors decide what the worker does: ``TemporaryDeliveryError`` (a 5xx, a timeout, a refused
connection) is retried with back-off up to a ceiling; ``PermanentDeliveryError`` (a 4xx, a
malformed address, a provider's refusal) fails the reply at once with the provider's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.contracts.outbound import DeliverReply, ReplyStatus


@dataclass(frozen=True)
class Sent:
    """The provider took it: its reference, and the status that follows (``sent``, or
    ``handed-to-print`` for a letter)."""

    reference: str
    status: ReplyStatus = ReplyStatus.SENT


class DeliveryError(Exception):
    """The provider did not take it; ``reason`` is shown to staff (no personal data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryDeliveryError(DeliveryError):
    """Worth trying again later (5xx, timeout, connection refused)."""


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help (4xx, refused address): the reply fails with the reason."""


class Adapter(Protocol):
    async def send(self, request: DeliverReply) -> Sent:
        """Deliver ``request``, or raise ``TemporaryDeliveryError`` / ``PermanentDeliveryError``."""
        ...
