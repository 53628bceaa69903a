"""App: messages from the municipal app's backend, within a conversation.

The app's backend knows who is logged in (DigiD / eHerkenning inside the app);
it may assert that login only with an integration key allowed to do so.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
    Phone,
    SingleLine,
    Timestamp,
    check_login,
    clean,
    login_sender,
)
from shared.contracts import Channel, InboundMessage
from shared.contracts.inbound import AttachmentRef


class AppParty(BaseModel):
    """Who is using the app, as the app's backend knows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authentication: Literal["none", "digid", "eherkenning"] = "none"
    bsn: Bsn | None = None
    kvk: Kvk | None = None
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _login_carries_identifier(self) -> AppParty:
        check_login(self)
        return self


class AppMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: ExternalId = Field(description="The app's own message id; re-sending it is safe.")
    conversation_id: ExternalId = Field(description="The conversation (thread) in the app.")
    sent_at: Timestamp | None = None
    party: AppParty
    subject: SingleLine | None = Field(default=None, max_length=300)
    text: FreeText = Field(default="", max_length=20_000)
    product: SingleLine | None = Field(default=None, max_length=200)
    case_number: CaseNumber | None = None
    language: Language = "nl"
    attachments: list[AttachmentUpload] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_content(self) -> AppMessage:
        if not self.text.strip() and not self.attachments:
            raise ValueError("a message needs 'text' or 'attachments'")
        return self

    @property
    def asserts_login(self) -> bool:
        return self.party.authentication != "none"


def to_message(
    msg: AppMessage,
    *,
    message_id: uuid.UUID,
    authenticated: bool,
    attachments: list[AttachmentRef],
    now: datetime | None = None,
) -> InboundMessage:
    party = msg.party
    sender = login_sender(party, vouched=authenticated)
    return InboundMessage(
        message_id=message_id,
        channel=Channel.APP,
        received_at=msg.sent_at or now or datetime.now(UTC),
        sender=sender,
        display_name=clean(party.name),
        subject=clean(msg.subject),
        text=msg.text.strip(),
        language=msg.language,
        thread_refs=[f"app:{msg.conversation_id}"],
        case_number_hint=msg.case_number,
        product_hint=clean(msg.product),
        attachments=attachments,
        channel_message_id=msg.message_id,
    )
