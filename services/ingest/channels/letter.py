"""Letter (post): a scanned letter from the mailroom, with its OCR text.

The sender is what the letter says (name and address as written): ``claimed``.
The scan itself is the first attachment; enclosures follow.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.ingest.channels.common import (
    AttachmentUpload,
    CaseNumber,
    Email,
    ExternalId,
    FreeText,
    Language,
    Phone,
    SingleLine,
    Timestamp,
    clean,
)
from shared.contracts import Channel, IdentifierKind, InboundMessage
from shared.contracts.inbound import AttachmentRef
from shared.identifiers import sender_identifiers

SCAN_TYPES = frozenset({"application/pdf", "image/tiff", "image/png", "image/jpeg"})


class LetterSender(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SingleLine | None = Field(default=None, max_length=200)
    address_lines: list[SingleLine] = Field(
        default_factory=list, max_length=6, description="The address as written, line by line."
    )
    email: Email | None = None
    phone: Phone | None = None

    @field_validator("address_lines")
    @classmethod
    def _short_lines(cls, lines: list[str]) -> list[str]:
        if any(len(line) > 100 for line in lines):
            raise ValueError("an address line has at most 100 characters")
        return lines


class ScannedLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    letter_id: ExternalId = Field(description="The mailroom's registration number.")
    received_at: Timestamp = Field(description="When the letter arrived (date stamp).")
    sender: LetterSender = Field(default_factory=LetterSender)
    subject: SingleLine | None = Field(default=None, max_length=300)
    ocr_text: FreeText = Field(default="", max_length=200_000)
    language: Language = "nl"
    case_number: CaseNumber | None = Field(
        default=None, description="A case number the mailroom read on the letter ('uw kenmerk')."
    )
    product: SingleLine | None = Field(default=None, max_length=200)
    scan: AttachmentUpload = Field(description="The scan: PDF, TIFF, PNG or JPEG.")
    enclosures: list[AttachmentUpload] = Field(default_factory=list)

    @field_validator("scan")
    @classmethod
    def _scan_type(cls, scan: AttachmentUpload) -> AttachmentUpload:
        if scan.media_type.lower() not in SCAN_TYPES:
            raise ValueError(f"the scan must be one of {', '.join(sorted(SCAN_TYPES))}")
        return scan


def to_message(
    letter: ScannedLetter, *, message_id: uuid.UUID, attachments: list[AttachmentRef]
) -> InboundMessage:
    written = letter.sender
    address = ", ".join(line.strip() for line in written.address_lines if line.strip())
    sender = sender_identifiers(
        [
            (IdentifierKind.POSTAL_ADDRESS, address[:320]),
            (IdentifierKind.EMAIL, written.email),
            (IdentifierKind.PHONE, written.phone),
        ]
    )
    return InboundMessage(
        message_id=message_id,
        channel=Channel.LETTER,
        received_at=letter.received_at,
        sender=sender,
        display_name=clean(written.name),
        subject=clean(letter.subject),
        text=letter.ocr_text.strip(),
        language=letter.language,
        case_number_hint=letter.case_number,
        product_hint=clean(letter.product),
        attachments=attachments,
        channel_message_id=letter.letter_id,
    )
