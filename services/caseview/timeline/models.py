"""What the API answers about histories: entries, pages, a contact's place, live items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from services.caseview.paging import Count, Out


class TimelineEntry(Out):
    event_id: uuid.UUID
    type: str
    party_id: uuid.UUID
    sequence: int
    occurred_at: datetime = Field(
        description="When it happened (a contact: its own moment); the history's order."
    )
    recorded_at: datetime | None = Field(
        default=None, description="When Eenloket recorded it (null for old rows)."
    )
    imported: bool = Field(
        default=False,
        description="Recorded more than an hour after it happened: history brought in "
        "from an old system (or a channel that delivered very late).",
    )
    case_id: uuid.UUID | None
    message_id: uuid.UUID | None
    channel: str | None
    redacted: bool = Field(
        default=False,
        description="Need-to-know: a confidential case of another team. 'data' then only "
        "says which case and who owns it.",
    )
    data: dict[str, Any]


class TimelinePage(Out):
    party_id: uuid.UUID
    items: list[TimelineEntry]
    next_cursor: str | None
    total: Count


class ContactLocation(Out):
    message_id: uuid.UUID
    party_id: uuid.UUID
    case_id: uuid.UUID | None
    event_id: uuid.UUID


@dataclass(frozen=True)
class FeedItem:
    position: int
    entry: TimelineEntry
