"""The access log as the auditors read it."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.caseview.paging import Out


class AccessLogEntry(Out):
    id: int
    at: datetime
    user: str
    teams: list[str]
    roles: list[str]
    endpoint: str
    party_id: uuid.UUID | None
    case_id: uuid.UUID | None
    team: str | None
    purpose: str | None
    outcome: str
    detail: str | None


class AccessLogPage(Out):
    items: list[AccessLogEntry]
    next_cursor: str | None
