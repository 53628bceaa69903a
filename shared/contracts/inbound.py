"""What ingest puts on ``omni.inbound.v1``: one canonical message per inbound contact."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import Event
from shared.contracts.vocabulary import CaseStatus


class Channel(StrEnum):
    """Kanaal: every way a resident or business reaches the municipality."""

    WEB = "web"
    EMAIL = "email"
    APP = "app"
    CHAT = "chat"
    PHONE = "phone"
    COUNTER = "counter"  # balie
    LETTER = "letter"  # post


class IdentifierKind(StrEnum):
    BSN = "bsn"
    KVK = "kvk"
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    POSTAL_ADDRESS = "postal_address"


class Trust(StrEnum):
    """The identity trust ladder (design §4), strongest first."""

    AUTHENTICATED = "authenticated"  # DigiD / eHerkenning / ID checked at the counter
    VERIFIED = "verified"  # confirmed by the municipality
    CLAIMED = "claimed"  # merely stated by the sender


class Evidence(StrEnum):
    """What the channel's integration *proved* about an identifier (docs/routing.md, "where
    trust comes from"). An identifier without evidence was merely stated by the sender."""

    DIGID = "digid"  # a DigiD login asserted by a key allowed to assert logins
    EHERKENNING = "eherkenning"  # likewise, eHerkenning
    ID_DOCUMENT = "id-document"  # an identity document checked at the counter
    DMARC = "dmarc"  # From domain passed DMARC per a trusted gateway's Authentication-Results
    DKIM = "dkim"  # a DKIM signature of the From domain, verified by ingest itself
    NETWORK_CALLER_ID = "network-caller-id"  # caller ID the telephony marks network-verified
    CRM_IMPORT = "crm-import"  # verified in the old CRM, vouched for by the import's operator


class SenderIdentifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: IdentifierKind
    value: str = Field(min_length=1, max_length=320)
    trust: Trust
    evidence: Evidence | None = Field(
        default=None,
        description="What the channel proved about this identifier; absent: typed or stated "
        "by the sender. The router decides the rung from the channel and this field alone "
        "(services/router/domain/trust.py); a value never gains a rung from being known "
        "elsewhere.",
    )
    evidence_detail: str | None = Field(
        default=None,
        max_length=200,
        description="Who proved it, e.g. the authserv-id of the gateway whose "
        "Authentication-Results said dmarc=pass, or the DKIM signing domain.",
    )


class AttachmentRef(BaseModel):
    """A claim check: the bytes live in the attachment store, never on Kafka."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str | None = Field(default=None, max_length=255)
    media_type: str = Field(max_length=255)
    size: int = Field(ge=0)


class InboundMessage(BaseModel):
    """The canonical message, whatever the channel (klantcontact, inbound)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_id: uuid.UUID
    channel: Channel
    received_at: datetime
    sender: list[SenderIdentifier] = Field(default_factory=list)
    display_name: str | None = None
    subject: str | None = None
    text: str = ""
    language: str = "nl"
    thread_refs: list[str] = Field(
        default_factory=list,
        description="References that tie this message to a conversation, namespaced by "
        "channel: 'email:<message-id>', 'chat:<session>', 'app:<conversation>'. The "
        "message's own reference comes first, then what it replies to.",
    )
    case_number_hint: str | None = None
    product_hint: str | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list)
    channel_message_id: str | None = None
    establishment: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="The business's establishment (vestigingsnummer, 12 digits) the message is "
        "about, as eHerkenning states it: one KvK number can have several establishments.",
    )
    owner_team_hint: str | None = Field(
        default=None,
        max_length=64,
        description="Set only by the bulk import (`eenloket import contacts`): the team that "
        "owned the contact in the old CRM. A new case opened by this message goes to that team "
        "if the routing file knows it; otherwise routing decides as usual. Channels never set it.",
    )
    case_status_hint: CaseStatus | None = Field(
        default=None,
        description="Set only by the bulk import: the old CRM's status of the case this "
        "contact belongs to. A case opened by an imported contact takes it (history that "
        "was finished arrives finished, not in today's team queues). Channels never set it.",
    )


class MessageReceived(Event):
    """``nl.eenloket.message.received``: ingest accepted a message from a channel."""

    TYPE = "nl.eenloket.message.received"

    message: InboundMessage
