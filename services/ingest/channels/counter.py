"""Counter (balie): a visit registered by front-office staff.

When the employee checked an identity document, the BSN is ``authenticated`` —
provided the counter application's key may assert that. Everything else the
visitor stated is ``claimed``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.ingest.channels.common import (
    AttachmentUpload,
    Bsn,
    CaseNumber,
    Email,
    ExternalId,
    FreeText,
    Kvk,
    Language,
    NonBlankLine,
    Phone,
    SingleLine,
    Timestamp,
    clean,
)
from shared.contracts import Channel, Evidence, IdentifierKind, InboundMessage
from shared.contracts.inbound import AttachmentRef
from shared.identifiers import sender_identifiers


class CounterIdentity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checked: Literal["id-document", "none"] = Field(
        default="none", description="'id-document': the employee checked a passport or ID card."
    )
    bsn: Bsn | None = None
    kvk: Kvk | None = None

    @model_validator(mode="after")
    def _check_carries_bsn(self) -> CounterIdentity:
        if self.checked == "id-document" and not self.bsn:
            raise ValueError("an identity checked with an ID document requires 'bsn'")
        return self


class CounterVisit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    visit_id: ExternalId = Field(description="The counter application's id; re-sending is safe.")
    visited_at: Timestamp
    location: SingleLine | None = Field(default=None, max_length=200, description="Office/desk.")
    identity: CounterIdentity = Field(default_factory=CounterIdentity)
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None
    phone: Phone | None = None
    topic: NonBlankLine = Field(min_length=1, max_length=300)
    notes: FreeText = Field(default="", max_length=20_000)
    product: SingleLine | None = Field(default=None, max_length=200)
    case_number: CaseNumber | None = None
    language: Language = "nl"
    attachments: list[AttachmentUpload] = Field(
        default_factory=list, description="Documents handed in, scanned at the desk."
    )

    @property
    def asserts_login(self) -> bool:
        return self.identity.checked != "none"


def to_message(
    visit: CounterVisit,
    *,
    message_id: uuid.UUID,
    authenticated: bool,
    attachments: list[AttachmentRef],
) -> InboundMessage:
    identity = visit.identity
    checked = authenticated and identity.checked == "id-document"
    sender = sender_identifiers(
        [
            (IdentifierKind.BSN, identity.bsn),
            (IdentifierKind.KVK, identity.kvk),
            (IdentifierKind.EMAIL, visit.email),
            (IdentifierKind.PHONE, visit.phone),
        ],
        {IdentifierKind.BSN: Evidence.ID_DOCUMENT} if checked else {},
    )
    return InboundMessage(
        message_id=message_id,
        channel=Channel.COUNTER,
        received_at=visit.visited_at,
        sender=sender,
        display_name=clean(visit.name),
        subject=clean(visit.topic),
        text=visit.notes.strip(),
        language=visit.language,
        case_number_hint=visit.case_number,
        product_hint=clean(visit.product),
        attachments=attachments,
        channel_message_id=visit.visit_id,
    )
