"""Inbound messages for the router's unit tests, and routing them on a store."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from services.router.route import Routed, route_messages
from services.router.routing.rules import load_routing
from services.router.store.protocol import RouterStore
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    SenderIdentifier,
    Trust,
)

ROUTING = load_routing()
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def bsn() -> str:
    """A random BSN that passes the 11-proef."""
    while True:
        digits = [random.randint(0, 9) for _ in range(8)]
        last = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if last < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(last)


def digid(number: str) -> SenderIdentifier:
    """A BSN from a DigiD login: links to whoever holds it."""
    return SenderIdentifier(
        kind=IdentifierKind.BSN, value=number, trust=Trust.AUTHENTICATED, evidence=Evidence.DIGID
    )


def typed(value: str, kind: IdentifierKind = IdentifierKind.EMAIL) -> SenderIdentifier:
    """An identifier the sender typed: it never links by itself."""
    return SenderIdentifier(kind=kind, value=value, trust=Trust.CLAIMED)


def email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.nl"


def message(
    *sender: SenderIdentifier,
    text: str = "Een vraag",
    channel: Channel = Channel.WEB,
    product: str | None = None,
    refs: tuple[str, ...] = (),
    case_number: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=channel,
        received_at=NOW,
        sender=list(sender),
        subject=text[:40],
        text=text,
        product_hint=product,
        thread_refs=list(refs),
        case_number_hint=case_number,
    )


async def route(store: RouterStore, *messages: InboundMessage, now: datetime = NOW) -> list[Routed]:
    return await route_messages(store, list(messages), ROUTING, now)


def types(routed: Routed) -> list[str]:
    """The event types of a routed message, without their ``nl.eenloket.`` prefix."""
    return [e.type.removeprefix("nl.eenloket.") for e in routed.events]


def routed_data(routed: Routed) -> dict[str, Any]:
    """The ``message.routed`` event's data (always the message's last event)."""
    last = routed.events[-1]
    assert last.type == "nl.eenloket.message.routed"
    return last.data
