"""Message contracts (v1): the pydantic models every service agrees on.

A change that would break a consumer is a new type or topic version, never an
edit in place (design §3).
"""

from shared.contracts.base import EVENT_TYPES, Event, to_cloudevent
from shared.contracts.inbound import (
    AttachmentRef,
    Channel,
    IdentifierKind,
    InboundMessage,
    MessageReceived,
    SenderIdentifier,
    Trust,
)
from shared.contracts.timeline import (
    CaseOpened,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    RoutingExplanation,
)

__all__ = [
    "EVENT_TYPES",
    "AttachmentRef",
    "CaseOpened",
    "Channel",
    "Event",
    "IdentifierKind",
    "InboundMessage",
    "MessageReceived",
    "MessageRouted",
    "PartyCreated",
    "PartyIdentifier",
    "RoutingExplanation",
    "SenderIdentifier",
    "Trust",
    "to_cloudevent",
]
