"""Web form (webformulier): JSON posted by the municipal portal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.ingest.channels.common import (
    CASE_NUMBER,
    Bsn,
    CaseNumber,
    Email,
    ExternalId,
    Kvk,
    Language,
    NonBlankLine,
    NonBlankText,
    Phone,
    SingleLine,
    Timestamp,
    check_login,
    clean,
    login_sender,
)
from shared.contracts import Channel, InboundMessage
from shared.contracts.inbound import AttachmentRef

__all__ = ["CASE_NUMBER", "WebFormSubmission", "to_message"]


class WebFormSubmission(BaseModel):
    """A form as the portal submits it. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submission_id: ExternalId | None = Field(
        default=None, description="The portal's own id; re-sending it is safe."
    )
    submitted_at: Timestamp | None = None
    authentication: Literal["none", "digid", "eherkenning"] = Field(
        default="none",
        description="How the portal identified the sender. 'digid'/'eherkenning' are "
        "accepted only from an integration key that may assert logins.",
    )
    bsn: Bsn | None = None
    kvk: Kvk | None = None
    establishment: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="Vestigingsnummer (12 digits) from eHerkenning, for a business with "
        "several establishments.",
    )
    name: SingleLine | None = Field(default=None, max_length=200)
    email: Email | None = None
    phone: Phone | None = None
    subject: NonBlankLine = Field(min_length=1, max_length=300)
    text: NonBlankText = Field(min_length=1, max_length=20_000)
    product: SingleLine | None = Field(
        default=None, max_length=200, description="Product hint (UPL name)"
    )
    case_number: CaseNumber | None = None
    language: Language = "nl"

    @model_validator(mode="after")
    def _login_carries_identifier(self) -> WebFormSubmission:
        check_login(self)
        return self

    @property
    def asserts_login(self) -> bool:
        return self.authentication != "none"


def to_message(
    form: WebFormSubmission,
    *,
    message_id: uuid.UUID,
    authenticated: bool,
    attachments: list[AttachmentRef] | None = None,
    now: datetime | None = None,
) -> InboundMessage:
    """Map a form to the canonical message. ``authenticated``: the portal vouched for it.

    Only the identifier the login produced becomes ``authenticated`` (the BSN for
    DigiD, the KvK number for eHerkenning); anything else typed into the form is
    ``claimed``.
    """
    sender = login_sender(form, vouched=authenticated)
    return InboundMessage(
        message_id=message_id,
        channel=Channel.WEB,
        received_at=form.submitted_at or now or datetime.now(UTC),
        sender=sender,
        display_name=clean(form.name),
        subject=clean(form.subject),
        text=form.text.strip(),
        language=form.language,
        case_number_hint=form.case_number,
        product_hint=clean(form.product),
        attachments=attachments or [],
        channel_message_id=form.submission_id,
        establishment=form.establishment,
    )
