"""Message contracts (v1): the pydantic models every service agrees on.

A change that would break a consumer is a new type or topic version, never an
edit in place (design §3).
"""

from shared.contracts import commands
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
    Actor,
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseMerged,
    CaseOpened,
    CaseStatusChanged,
    CommandRejected,
    Flag,
    LinkDecided,
    LinkSuggested,
    MessageRouted,
    NoteAdded,
    OutboundContactRegistered,
    ParticipantAdded,
    ParticipantRemoved,
    PartyCreated,
    PartyIdentifier,
    PartyIdentifierAdded,
    PartyMerged,
    PartyUnmerged,
    PossibleDuplicateFlagged,
    RoutingExplanation,
)

__all__ = [
    "EVENT_TYPES",
    "Actor",
    "AttachmentRef",
    "CaseClassified",
    "CaseClosed",
    "CaseHandedOver",
    "CaseMerged",
    "CaseOpened",
    "CaseStatusChanged",
    "Channel",
    "CommandRejected",
    "Event",
    "Flag",
    "IdentifierKind",
    "InboundMessage",
    "LinkDecided",
    "LinkSuggested",
    "MessageReceived",
    "MessageRouted",
    "NoteAdded",
    "OutboundContactRegistered",
    "ParticipantAdded",
    "ParticipantRemoved",
    "PartyCreated",
    "PartyIdentifier",
    "PartyIdentifierAdded",
    "PartyMerged",
    "PartyUnmerged",
    "PossibleDuplicateFlagged",
    "RoutingExplanation",
    "SenderIdentifier",
    "Trust",
    "commands",
    "to_cloudevent",
]
