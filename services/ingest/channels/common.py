"""What the channel modules share: field types that refuse control characters, identifier
types (checked by shared/identifiers.py), base64 attachments."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Protocol

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

from shared import identifiers
from shared.attachments import Blob
from shared.contracts import IdentifierKind, SenderIdentifier
from shared.identifiers import (
    MULTI_LINE,
    SINGLE_LINE,
    login_proves,
    sender_identifiers,
)

CASE_NUMBER = r"^ZAAK-\d{4}-\d{10}$"

# A single-line value (subject, name, id) with a CR, LF or NUL in it is a header
# injection attempt or a broken client; refuse it rather than pass it on. Free text keeps
# tabs and line breaks; every other control character is refused.


# Aliases; give the length at the field (``Field(max_length=...)``). Values are not
# stripped during validation (a generated client would see its valid input refused);
# ``to_message`` strips them.
SingleLine = Annotated[str, StringConstraints(pattern=SINGLE_LINE)]
# A required single line: at least one visible character.
NonBlankLine = Annotated[
    str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
]
FreeText = Annotated[str, StringConstraints(pattern=MULTI_LINE)]
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


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
# The patterns stay on the fields so the JSON schema states them; the functions after
# them are the ones the bulk import checks its rows with.
Bsn = Annotated[str, Field(pattern=identifiers.BSN_PATTERN), AfterValidator(identifiers.bsn)]
Kvk = Annotated[
    str,
    Field(pattern=identifiers.KVK_PATTERN, description="KvK-nummer, 8 digits"),
    AfterValidator(identifiers.kvk),
]
Email = Annotated[
    str,
    Field(max_length=identifiers.EMAIL_MAX, pattern=identifiers.EMAIL_PATTERN),
    AfterValidator(identifiers.email),
]
Phone = Annotated[
    str,
    Field(
        max_length=identifiers.PHONE_MAX,
        pattern=identifiers.PHONE_PATTERN,
        description="normalised to E.164",
    ),
    AfterValidator(identifiers.phone),
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


class LoginParty(Protocol):
    """Who may have logged in (the web form, the app's party): the login and what the
    person typed."""

    @property
    def authentication(self) -> str: ...
    @property
    def bsn(self) -> str | None: ...
    @property
    def kvk(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


def check_login(party: LoginParty) -> None:
    """A login names the identifier it produced (a model validator's rule)."""
    if party.authentication == "digid" and not party.bsn:
        raise ValueError("authentication 'digid' requires 'bsn'")
    if party.authentication == "eherkenning" and not party.kvk:
        raise ValueError("authentication 'eherkenning' requires 'kvk'")


def login_sender(party: LoginParty, *, vouched: bool) -> list[SenderIdentifier]:
    """The sender where a login may identify the person. ``vouched``: the integration may
    assert logins; only the identifier the login produced becomes ``authenticated``."""
    return sender_identifiers(
        [
            (IdentifierKind.BSN, party.bsn),
            (IdentifierKind.KVK, party.kvk),
            (IdentifierKind.EMAIL, party.email),
            (IdentifierKind.PHONE, party.phone),
        ],
        login_proves(party.authentication, vouched),
    )
