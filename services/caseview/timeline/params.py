"""The query parameters a history is filtered with (a party's and a case's timeline)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from services.caseview.timeline.queries import TimelineFilter
from services.caseview.web import NO_NUL, when
from shared.contracts import Channel

Channels = Annotated[list[Channel] | None, Query(max_length=7)]
Types = Annotated[
    list[Annotated[str, Query(max_length=128, pattern=NO_NUL)]] | None, Query(max_length=20)
]
Since = Annotated[AwareDatetime | None, Query(description="occurred at or after")]
Until = Annotated[AwareDatetime | None, Query(description="occurred before")]


def timeline_filter(
    channel: list[Channel] | None,
    types: list[str] | None,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
    case_id: uuid.UUID | None = None,
) -> TimelineFilter:
    """400 for a time UTC cannot hold (web.when)."""
    return TimelineFilter(
        channels=tuple(c.value for c in channel or ()),
        types=tuple(types or ()),
        case_id=case_id,
        since=when(since),
        until=when(until),
    )
