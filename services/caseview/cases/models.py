"""What the API answers about cases: summaries, the case view and a team's queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from services.caseview.paging import Count, Out


class CaseSummary(Out):
    id: uuid.UUID
    number: str
    party_id: uuid.UUID
    product: str | None
    status: str | None
    owner_team: str
    participants: list[str]
    confidential: bool
    redacted: bool
    opened_at: datetime
    due_at: datetime | None
    overdue: bool
    closed_at: datetime | None
    result: str | None
    handover_count: int
    last_activity_at: datetime


class Handover(Out):
    from_team: str
    to_team: str
    by: str
    by_team: str | None
    reason: str
    at: datetime
    handover_count: int


class RoutingExplanationOut(Out):
    message_id: uuid.UUID
    at: datetime
    explanation: dict[str, Any]
    flags: list[dict[str, Any]]


class ContactOut(Out):
    event_id: uuid.UUID
    direction: Literal["inbound", "outbound"]
    channel: str | None
    occurred_at: datetime
    message_id: uuid.UUID | None
    subject: str | None = Field(description="Subject or summary; null when redacted.")
    text: str | None = Field(description="Message text; null when redacted.")


class CaseView(CaseSummary):
    handovers: list[Handover]
    routing_explanations: list[RoutingExplanationOut]
    contacts: list[ContactOut]
    contacts_total: Count


class QueueItem(CaseSummary):
    role: Literal["owner", "participant"]
    subject: str | None = Field(
        default=None, description="The first contact's subject; null when redacted."
    )
    channel: str | None = Field(default=None, description="The first contact's channel.")
    resident: str | None = Field(default=None, description="The party's name, when known.")


class QueueSort(StrEnum):
    AGE = "age"  # oldest first
    DUE = "due"  # earliest due date first; cases without a norm last


class QueuePage(Out):
    team: str
    sort: QueueSort
    items: list[QueueItem]
    next_cursor: str | None
    total: Count


class AgeBucket(Out):
    bucket: Literal["under-1-day", "1-7-days", "1-4-weeks", "over-4-weeks"]
    count: int


class TeamOverview(Out):
    """The team lead's view: the open cases the team owns."""

    team: str
    backlog: int = Field(description="Open cases the team owns.")
    ages: list[AgeBucket] = Field(description="The backlog by age (since the case opened).")
    overdue: int = Field(description="Open cases past their due date (norm breaches).")
    handed_over: int = Field(description="Open cases handed over at least once.")
    handovers: int = Field(description="Handovers of the open cases, together.")
    passed_around: int = Field(
        description="Open cases handed over passed_around_from times or more."
    )
    passed_around_from: int
    oldest_opened_at: datetime | None
