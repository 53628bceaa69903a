"""Writing the access log (AVG "verwerkingenlogging"): who read which party or case, and why.

An entry is committed *before* the data leaves the service: if the log cannot
be written, the read fails (no log, no data).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.ldv import LdvEmitter
from services.caseview.auth import Principal
from services.caseview.orm import access_log

Outcome = Literal["ok", "not-found", "denied"]


@dataclass(frozen=True)
class Access:
    endpoint: str  # the route template, e.g. "GET /v1/parties/{party_id}/timeline"
    party_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    team: str | None = None
    outcome: Outcome = "ok"
    detail: str | None = None  # never a searched value: "search by bsn", not the BSN


async def record(
    session: AsyncSession,
    principal: Principal,
    accesses: Sequence[Access],
    *,
    purpose: str | None,
    ldv: LdvEmitter | None = None,
) -> None:
    if not accesses:
        return
    now = datetime.now(UTC)
    rows = [
        {
            "at": now,
            "user": principal.user,
            "teams": ",".join(sorted(principal.teams))[:1000],
            "roles": ",".join(sorted(principal.roles))[:500],
            "endpoint": a.endpoint[:200],
            "party_id": a.party_id,
            "case_id": a.case_id,
            "team": a.team,
            "purpose": purpose[:500] if purpose else None,
            "outcome": a.outcome,
            "detail": a.detail,
        }
        for a in accesses
    ]
    # The request's own session: its read transaction ends here too (on SQLite every
    # transaction holds the write lock, so a second session would wait for this one).
    await session.execute(access_log.insert(), rows)
    await session.commit()
    if ldv is not None:  # after the commit: a processing action that was really logged
        ldv.emit(accesses, purpose=purpose, at=now)
