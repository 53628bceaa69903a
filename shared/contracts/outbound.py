"""Replies to the resident (issue #17): the staff command, the send request, the statuses.

The way of one reply (docs/outbound.md):

1. caseview validates ``POST /v1/cases/{id}/replies``, renders its template and publishes
   ``SendReply`` on ``omni.commands.v1`` (like every staff command);
2. the router checks it again, records ``ReplyRequested`` on the party's timeline and, in
   the same transaction, writes ``DeliverReply`` to ``omni.outbound.v1`` (both through its
   outbox): the router stays the one writer of per-party sequence numbers;
3. the outbound service delivers it through the channel's adapter and reports every
   change as ``ReplyStatusReported`` on ``omni.outbound-status.v1``;
4. the router records each as ``ReplyStatusChanged`` on the timeline, which caseview shows.

Delivery reports that arrive from outside (a bounce at the SMTP receiver, an SMS
provider's signed webhook) are normalised by ingest into ``DeliveryReportReceived`` on
``omni.delivery-reports.v1``; the outbound service, which knows its references, turns
each into the reply's next status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.contracts.base import Event
from shared.contracts.inbound import AttachmentRef, IdentifierKind
from shared.contracts.text import LongText, storable
from shared.contracts.timeline import Actor

# The namespace of identifier ids (uuid5): an identifier of a party is addressed by
# ``identifier_id(party, kind, value)`` in the API and in commands, never by its value.
_IDENTIFIER_NS = uuid.UUID("6f1d2c7e-5a0b-4e8e-9a53-3f4f2b8c1d77")
# Conversation reference of a reply's token: an answer that carries it (the Reply-To
# address ``antwoord+<token>@…``) belongs to the reply's party and case, as a chat session does.
REPLY_REF_PREFIX = "reply:"


# Stored and published as they are: what PostgreSQL cannot store is refused (text.py).
Subject = Annotated[str, Field(max_length=200), AfterValidator(storable)]
TemplateName = Annotated[str, Field(max_length=100), AfterValidator(storable)]


class ReplyChannel(StrEnum):
    """The channels a reply can be sent on."""

    EMAIL = "email"
    SMS = "sms"
    APP = "app"
    CHAT = "chat"
    LETTER = "letter"


class ReplyStatus(StrEnum):
    """``requested → sent → delivered | bounced | failed | handed-to-print``."""

    REQUESTED = "requested"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    HANDED_TO_PRINT = "handed-to-print"


# Statuses after which nothing changes any more (a delivered e-mail may still bounce).
FINAL_STATUSES = frozenset({ReplyStatus.BOUNCED, ReplyStatus.FAILED, ReplyStatus.HANDED_TO_PRINT})

# The words of a ``failed`` chat reply's reason when the session has ended (the chat
# adapter's 410): the router then falls back to another channel (docs/outbound-fallback.md).
SESSION_ENDED = "het chatgesprek is beëindigd"

# The identifier kind each channel sends to.
RECIPIENT_KIND: dict[ReplyChannel, IdentifierKind] = {
    ReplyChannel.EMAIL: IdentifierKind.EMAIL,
    ReplyChannel.SMS: IdentifierKind.PHONE,
    ReplyChannel.APP: IdentifierKind.BSN,  # the app backend knows its users by login
    ReplyChannel.CHAT: IdentifierKind.CHAT,
    ReplyChannel.LETTER: IdentifierKind.POSTAL_ADDRESS,
}


def identifier_id(party_id: uuid.UUID, kind: str, value: str) -> uuid.UUID:
    """The stable id of one of a party's identifiers (caseview shows it, commands name it)."""
    return uuid.uuid5(_IDENTIFIER_NS, f"{party_id}\x00{kind}\x00{value}")


def reply_token(key: bytes, reply_id: uuid.UUID) -> str:
    """The opaque token of a reply's ``Reply-To`` and bounce addresses: an HMAC of the reply
    id (never a case number or a BSN), 26 characters of lower-case base32."""
    digest = hmac.new(key, reply_id.bytes, hashlib.sha256).digest()
    return base64.b32encode(digest[:16]).decode().rstrip("=").lower()


class SendReply(Event):
    """Staff ask to answer the resident (``omni.commands.v1``, key: case id)."""

    TYPE = "nl.eenloket.case.send-reply"

    reply_id: uuid.UUID
    case_id: uuid.UUID
    identifier_id: uuid.UUID = Field(description="the recipient: one of the party's identifiers")
    channel: ReplyChannel
    subject: Subject | None = None
    text: LongText = Field(description="the rendered text (caseview renders the template)")
    template: TemplateName | None = None
    # From the attachment store (content-addressed), at most 10; never bytes on Kafka.
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=10)
    # Staff confirmed sending to an address only *claimed* (typed) by the resident.
    confirm_claimed: bool = False
    # A confidential case to an address below verified: a notice without contents.
    notice_only: bool = False
    by: Actor
    # A fallback (docs/outbound-fallback.md): the reply whose delivery failed; at most one.
    fallback_of: uuid.UUID | None = None


class ReplyRequested(Event):
    """A reply was asked for (``omni.timeline.v1``): an outgoing entry in the history."""

    TYPE = "nl.eenloket.reply.requested"

    reply_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    identifier_id: uuid.UUID
    channel: ReplyChannel
    recipient_trust: str
    subject: str | None
    text: str
    template: str | None
    attachments: list[AttachmentRef]
    notice_only: bool
    by: Actor
    at: datetime
    fallback_of: uuid.UUID | None = None


class DeliverReply(Event):
    """The send request (``omni.outbound.v1``, key: reply id), made by the router."""

    TYPE = "nl.eenloket.reply.deliver"

    reply_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    party_id: uuid.UUID
    channel: ReplyChannel
    address: str = Field(description="the recipient's e-mail, phone, chat session, postal address")
    display_name: str | None = None
    subject: str | None
    text: str
    attachments: list[AttachmentRef]
    # E-mail threading: the Message-IDs of the resident's messages on the case, last first.
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    token: str = Field(description="reply_token(reply_id): Reply-To and bounce addresses")
    requested_at: datetime
    fallback_of: uuid.UUID | None = None


class ReplyStatusReported(Event):
    """A delivery status (``omni.outbound-status.v1``, key: reply id), by the outbound service."""

    TYPE = "nl.eenloket.reply.status-reported"

    reply_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    channel: ReplyChannel
    status: ReplyStatus
    reason: str | None = None
    # The provider's reference or the e-mail's Message-ID: the same on every retry.
    reference: str | None = None
    at: datetime


class ReplyStatusChanged(Event):
    """The reply's status in the history (``omni.timeline.v1``), recorded by the router."""

    TYPE = "nl.eenloket.reply.status-changed"

    reply_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    channel: ReplyChannel
    status: ReplyStatus
    reason: str | None
    reference: str | None
    at: datetime


class DeliveryReportReceived(Event):
    """A provider's word on a message we sent (``omni.delivery-reports.v1``), from ingest:
    a DSN at the SMTP receiver, an SMS provider's signed webhook, the app backend's report."""

    TYPE = "nl.eenloket.delivery.report-received"

    channel: ReplyChannel
    # What ties it to a reply: the token of the bounce address, or the provider's reference.
    token: str | None = None
    reference: str | None = None
    status: ReplyStatus
    reason: str | None = Field(default=None, max_length=2000)
    at: datetime


class ContactPreferencesChanged(Event):
    """A party's contact preferences (``omni.timeline.v1``), recorded by the router: the
    channel a reply takes when staff name none, and the channels nothing may be sent on.
    Here rather than in timeline.py: it names ``ReplyChannel``, and timeline.py is imported
    by this module."""

    TYPE = "nl.eenloket.party.contact-preferences-changed"

    party_id: uuid.UUID
    preferred_channel: ReplyChannel | None
    opted_out: list[ReplyChannel]
    reason: str
    by: Actor
    at: datetime
