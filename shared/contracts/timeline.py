"""What the router publishes on ``omni.timeline.v1`` (key: party id): the history."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.contracts.base import Event
from shared.contracts.inbound import AttachmentRef, Channel, IdentifierKind, Trust


class PartyIdentifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: IdentifierKind
    value: str
    trust: Trust


class RoutingExplanation(BaseModel):
    """Why a message landed where it did: which rule, what matched, which rule-set version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_rule: str
    case_detail: str
    owner_rule: str
    owner_detail: str
    ruleset_version: str


class PartyCreated(Event):
    """``nl.eenloket.party.created``: a new (possibly provisional) resident or business."""

    TYPE = "nl.eenloket.party.created"

    party_id: uuid.UUID
    provisional: bool
    display_name: str | None
    identifiers: list[PartyIdentifier]
    created_at: datetime


class CaseOpened(Event):
    """``nl.eenloket.case.opened``: a new zaak with exactly one owning team."""

    TYPE = "nl.eenloket.case.opened"

    case_id: uuid.UUID
    case_number: str
    party_id: uuid.UUID
    product: str | None
    owner_team: str
    status: str
    opened_at: datetime


class MessageRouted(Event):
    """``nl.eenloket.message.routed``: a contact joined a case of a party (klantcontact)."""

    TYPE = "nl.eenloket.message.routed"

    message_id: uuid.UUID
    party_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    channel: Channel
    received_at: datetime
    display_name: str | None
    subject: str | None
    text: str
    attachments: list[AttachmentRef]
    owner_team: str
    explanation: RoutingExplanation
