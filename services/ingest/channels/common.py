"""What the channel modules share: field types that refuse control characters, identifier
normalisation (E.164, 11-proef), base64 attachments."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    Base64Bytes,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from stdnum.nl import bsn as stdnum_bsn

from services.ingest.attachments import Blob
from shared.contracts import Evidence, IdentifierKind, SenderIdentifier, Trust

CASE_NUMBER = r"^ZAAK-\d{4}-\d{10}$"

# A single-line value (subject, name, id) with a CR, LF or NUL in it is a header
# injection attempt or a broken client; refuse it rather than pass it on.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
# Free text keeps tabs and line breaks; every other control character is refused.
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


# Aliases; give the length at the field (``Field(max_length=...)``). Values are not
# stripped during validation (a generated client would see its valid input refused);
# ``to_message`` strips them.
SingleLine = Annotated[str, StringConstraints(pattern=_SINGLE_LINE)]
# A required single line: at least one visible character.
NonBlankLine = Annotated[
    str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
]
FreeText = Annotated[str, StringConstraints(pattern=_MULTI_LINE)]
NonBlankText = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
]


def clean(value: str | None) -> str | None:
    """Strip; an empty value is no value."""
    if value is None:
        return None
    return value.strip() or None


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: object) -> object:
    # pydantic would also take a number (Unix time) or a bare "0": a JSON client that
    # sends those has a bug we should report, not guess around.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "expected an RFC 3339 date-time with offset, e.g. 2026-04-06T09:30:00+02:00"
        )
    return value


def _valid_bsn(value: str) -> str:
    if not stdnum_bsn.is_valid(value):
        raise ValueError("not a valid BSN (9 digits passing the 11-proef)")
    return value


def e164(raw: str, *, region: str = "NL") -> str:
    """A phone number in E.164 (``+31612345678``); Dutch numbers may be written nationally."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _e164(raw: str) -> str:
    return e164(raw)


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
Bsn = Annotated[str, Field(pattern=r"^\d{9}$"), AfterValidator(_valid_bsn)]
Kvk = Annotated[str, Field(pattern=r"^\d{8}$", description="KvK-nummer, 8 digits")]
Email = Annotated[
    str,
    Field(
        max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
    ),
    AfterValidator(str.lower),
]
Phone = Annotated[
    str,
    Field(max_length=32, pattern=r"^\+?[0-9 ()\-]{3,31}$", description="normalised to E.164"),
    AfterValidator(_e164),
]
CaseNumber = Annotated[str, Field(pattern=CASE_NUMBER, description="ZAAK-<year>-<10 digits>")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]
ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]  # printable ASCII without spaces: ids travel into thread references


class AttachmentUpload(BaseModel):
    """An attachment in a JSON body, base64-encoded (RFC 4648, standard alphabet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: SingleLine | None = Field(default=None, max_length=255)
    media_type: str = Field(
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
    )
    content_base64: Base64Bytes = Field(description="the bytes, base64 (RFC 4648)")

    def blob(self) -> Blob:
        return Blob(data=self.content_base64, filename=self.filename, media_type=self.media_type)


def identifier(kind: IdentifierKind, value: str, trust: Trust) -> SenderIdentifier:
    return SenderIdentifier(kind=kind, value=value, trust=trust)


def login_identifier(
    kind: IdentifierKind, value: str, proven: bool, evidence: Evidence
) -> SenderIdentifier:
    """An identifier a login (or an ID check) may have produced: ``authenticated``, with
    the evidence, when an integration allowed to assert it vouched for it; otherwise
    merely stated, ``claimed`` without evidence."""
    if proven:
        return SenderIdentifier(
            kind=kind, value=value, trust=Trust.AUTHENTICATED, evidence=evidence
        )
    return SenderIdentifier(kind=kind, value=value, trust=Trust.CLAIMED)
