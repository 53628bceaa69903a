"""Chat: webhook events from the chat platform (session started, message, session ended).

Every event becomes one message on the session's thread (``chat:<session id>``),
so the router keeps a whole chat on one case and caseview shows when it
started and ended. Only what the visitor wrote is inbound: agent and bot lines
are refused (configure the platform's webhook for visitor events only); the
platform may send the full transcript with ``session.ended``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.channels.common import (
    AttachmentUpload,
    Email,
    ExternalId,
    FreeText,
    Language,
    NonBlankText,
    SingleLine,
    Timestamp,
    clean,
)
from shared.contracts import Channel, IdentifierKind, InboundMessage
from shared.contracts.inbound import AttachmentRef
from shared.identifiers import sender_identifiers


class ChatVisitor(BaseModel):
    """The visitor as the platform knows them: all of it merely stated (claimed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handle: SingleLine | None = Field(
        default=None, max_length=200, description="The platform's visitor handle or nickname."
    )
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None


class _ChatEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: ExternalId = Field(description="The platform's event id; re-sending it is safe.")
    session_id: ExternalId
    occurred_at: Timestamp
    visitor: ChatVisitor | None = None
    language: Language = "nl"


class ChatSessionStarted(_ChatEvent):
    type: Literal["session.started"]
    topic: SingleLine | None = Field(default=None, max_length=300)
    question: FreeText | None = Field(
        default=None, max_length=20_000, description="What the visitor typed before the chat."
    )


class ChatMessage(_ChatEvent):
    type: Literal["message"]
    author: Literal["visitor"] = Field(
        default="visitor", description="Only visitor messages are inbound."
    )
    text: NonBlankText = Field(max_length=20_000)
    attachments: list[AttachmentUpload] = Field(default_factory=list)


class ChatSessionEnded(_ChatEvent):
    type: Literal["session.ended"]
    reason: SingleLine | None = Field(default=None, max_length=100)
    transcript: FreeText | None = Field(default=None, max_length=100_000)


ChatEvent = Annotated[
    ChatSessionStarted | ChatMessage | ChatSessionEnded, Field(discriminator="type")
]


def to_message(
    event: ChatSessionStarted | ChatMessage | ChatSessionEnded,
    *,
    message_id: uuid.UUID,
    attachments: list[AttachmentRef],
) -> InboundMessage:
    visitor = event.visitor
    sender = sender_identifiers(
        [
            (IdentifierKind.CHAT, clean(visitor.handle) if visitor else None),
            (IdentifierKind.EMAIL, visitor.email if visitor else None),
        ]
    )
    subject: str | None = None
    text = ""
    if isinstance(event, ChatSessionStarted):
        subject, text = clean(event.topic), (event.question or "").strip()
    elif isinstance(event, ChatMessage):
        text = event.text.strip()
    else:
        text = (event.transcript or "").strip()
    return InboundMessage(
        message_id=message_id,
        channel=Channel.CHAT,
        received_at=event.occurred_at,
        sender=sender,
        display_name=clean(visitor.name) if visitor else None,
        subject=subject,
        text=text,
        language=event.language,
        thread_refs=[f"chat:{event.session_id}"],
        attachments=attachments,
        channel_message_id=event.event_id,
    )
