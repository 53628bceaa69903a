"""What a resident reads: only what is theirs to see (docs/resident.md). No staff names, no
notes, handovers, routing, link suggestions or other parties: those fields do not exist here."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.caseview.paging import Out
from shared.contracts.outbound import ReplyChannel

HIGHER_LOA_NOTICE = "Meld u aan met een hoger betrouwbaarheidsniveau"


class MyCase(Out):
    """One case in the list. ``locked``: a confidential case the login's level of assurance
    is too low for: number, dates and the notice only."""

    id: uuid.UUID
    number: str
    product: str | None = Field(description="The product in plain words (routing file)")
    status: str | None
    team: str | None = Field(description="The owning team's public name")
    opened_at: datetime
    due_at: datetime | None
    last_change_at: datetime
    closed_at: datetime | None
    locked: bool
    notice: str | None = None


class MyDocument(Out):
    sha256: str
    filename: str | None
    media_type: str
    size: int


class MyMessage(Out):
    """A message the resident sent, on any channel."""

    at: datetime
    channel: str
    subject: str | None
    text: str
    documents: list[MyDocument]


class MyReply(Out):
    """A reply of the municipality with its delivery status."""

    at: datetime
    channel: str
    subject: str | None
    text: str
    notice_only: bool = Field(description="Only 'er staat een bericht voor u klaar'")
    status: str
    status_at: datetime
    documents: list[MyDocument]


class MyCaseDetail(MyCase):
    messages: list[MyMessage]
    replies: list[MyReply]


class MyCases(Out):
    items: list[MyCase]


class LookedEntry(Out):
    """One read of the resident's data: which team(s), when, why; never which person."""

    at: datetime
    teams: list[str] = Field(description="The reader's teams by public name")
    reader: str = Field(description="'team', 'koppeling', 'toezicht' or 'uzelf'")
    purpose: str | None
    what: str
    case_number: str | None
    own_read: bool


class LookedPage(Out):
    items: list[LookedEntry]
    next_cursor: str | None


class MyPreferences(Out):
    preferred_channel: ReplyChannel | None
    opted_out: list[ReplyChannel]
    changed_at: datetime | None


class MyPreferencesRequest(BaseModel):
    """The whole set, as staff set it (without a reason: the resident's own wish is one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preferred_channel: ReplyChannel | None = None
    opted_out: list[ReplyChannel] = Field(default_factory=list, max_length=len(ReplyChannel))
