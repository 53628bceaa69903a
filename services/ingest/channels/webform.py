"""Web form (webformulier): JSON posted by the municipal portal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts import Channel, IdentifierKind, InboundMessage, SenderIdentifier, Trust

CASE_NUMBER = r"^ZAAK-\d{4}-\d{10}$"


class WebFormSubmission(BaseModel):
    """A form as the portal submits it. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    submission_id: str | None = Field(
        default=None, max_length=200, description="The portal's own id; re-sending it is safe."
    )
    submitted_at: datetime | None = None
    authentication: Literal["none", "digid", "eherkenning"] = Field(
        default="none",
        description="How the portal identified the sender. 'digid'/'eherkenning' are "
        "accepted only from the portal's own integration key.",
    )
    bsn: str | None = Field(default=None, pattern=r"^\d{9}$")
    kvk: str | None = Field(default=None, pattern=r"^\d{8}$")
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()\-]{6,31}$")
    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=20_000)
    product: str | None = Field(default=None, max_length=200, description="Product hint (UPL name)")
    case_number: str | None = Field(default=None, pattern=CASE_NUMBER)
    language: str = Field(default="nl", pattern=r"^[a-z]{2}$")

    @model_validator(mode="after")
    def _login_carries_identifier(self) -> WebFormSubmission:
        if self.authentication == "digid" and not self.bsn:
            raise ValueError("authentication 'digid' requires 'bsn'")
        if self.authentication == "eherkenning" and not self.kvk:
            raise ValueError("authentication 'eherkenning' requires 'kvk'")
        return self


def to_message(
    form: WebFormSubmission, *, message_id: uuid.UUID, authenticated: bool
) -> InboundMessage:
    """Map a form to the canonical message. ``authenticated``: the portal vouched for it."""
    login_trust = Trust.AUTHENTICATED if authenticated else Trust.CLAIMED
    sender: list[SenderIdentifier] = []
    if form.bsn:
        sender.append(SenderIdentifier(kind=IdentifierKind.BSN, value=form.bsn, trust=login_trust))
    if form.kvk:
        sender.append(SenderIdentifier(kind=IdentifierKind.KVK, value=form.kvk, trust=login_trust))
    if form.email:
        sender.append(
            SenderIdentifier(
                kind=IdentifierKind.EMAIL, value=form.email.lower(), trust=Trust.CLAIMED
            )
        )
    if form.phone:
        sender.append(
            SenderIdentifier(kind=IdentifierKind.PHONE, value=form.phone, trust=Trust.CLAIMED)
        )
    return InboundMessage(
        message_id=message_id,
        channel=Channel.WEB,
        received_at=form.submitted_at or datetime.now(UTC),
        sender=sender,
        display_name=form.name,
        subject=form.subject,
        text=form.text,
        language=form.language,
        case_number_hint=form.case_number,
        product_hint=form.product,
        channel_message_id=form.submission_id,
    )
