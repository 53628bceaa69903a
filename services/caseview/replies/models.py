"""The reply route's request body and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.caseview.paging import Out
from shared.contracts.outbound import ReplyChannel, ReplyStatus
from shared.contracts.text import LongText

ChosenBecause = Literal["requested", "last-message", "preferred-channel"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ReplyRequest(BaseModel):
    """A reply to the resident: a template, free text, or a template with free text in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifier_id: uuid.UUID | None = Field(
        default=None,
        description="The recipient: the 'identifier_id' of one of the case's party identifiers. "
        "Left out with 'channel': the channel and address of the resident's last message on "
        "the case, else the party's preferred channel ('chosen_because' says which)",
    )
    channel: ReplyChannel | None = Field(
        default=None,
        description="Must fit the identifier: email, sms (phone), ...; left out with an "
        "identifier: the identifier's channel; alone: the party's address for it",
    )
    template: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="A template of deploy/templates.yaml (the product's own, else the general)",
    )
    text: LongText | None = Field(
        default=None, description="The staff member's own words (the template's 'text')"
    )
    subject: str | None = Field(
        default=None, max_length=200, description="Replaces the template's subject; one line"
    )
    attachments: list[Sha256] = Field(
        default_factory=list,
        max_length=10,
        description="sha256 of attachments of this case's messages",
    )
    confirm_claimed: bool = Field(
        default=False,
        description="Send to an address the resident only stated (claimed), not verified",
    )


CHOSEN_BECAUSE = (
    "Why this recipient: 'requested' (named in the request), 'last-message' (the channel "
    "of the resident's last message on the case), 'preferred-channel' (the party's preference)"
)


class ReplyPreview(Out):
    channel: ReplyChannel
    identifier_id: uuid.UUID
    chosen_because: ChosenBecause = Field(description=CHOSEN_BECAUSE)
    template: str | None
    subject: str | None
    text: str
    notice_only: bool = Field(
        description="Confidential case, address not verified: only a notice without contents "
        "is sent (template 'kennisgeving'); the attachments are left out."
    )


class ReplyAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)

    reply_id: uuid.UUID = Field(description="GET /v1/cases/{case_id}/replies/{reply_id}")
    command_id: uuid.UUID = Field(description="The command's status: /v1/commands/{command_id}")
    status: Literal["requested"] = "requested"
    notice_only: bool
    channel: ReplyChannel
    identifier_id: uuid.UUID
    chosen_because: ChosenBecause = Field(description=CHOSEN_BECAUSE)


class ReplyStatusOut(Out):
    status: ReplyStatus
    reason: str | None
    at: datetime


class ReplyView(Out):
    reply_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    identifier_id: uuid.UUID
    channel: ReplyChannel
    recipient_trust: str
    template: str | None
    subject: str | None
    text: str
    notice_only: bool
    attachments: list[Sha256]
    requested_by: str
    requested_team: str | None
    requested_at: datetime
    status: ReplyStatus
    status_at: datetime
    history: list[ReplyStatusOut] = Field(description="Every status, oldest first")
    fallback_of: uuid.UUID | None = Field(
        default=None, description="This reply is the fallback of that one (it did not arrive)"
    )
    fallbacks: list[uuid.UUID] = Field(
        default_factory=list,
        description="The reply sent again on another channel after this one did not arrive",
    )


class ReplyTemplateOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(description="What to send as 'template'")
    product: str = Field(description="The product it is for ('*': every product)")
    channel: ReplyChannel
    subject: str | None = Field(description="The subject as written (Jinja2, unrendered)")
    needs_text: bool = Field(description="The template needs the staff member's own 'text'")
