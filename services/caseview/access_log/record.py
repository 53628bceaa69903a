"""Writing the access log (AVG "verwerkingenlogging"): who read which party or case, and why.

An entry is committed *before* the data leaves the service: if the log cannot
be written, the read fails (no log, no data). Staff reads (audited.py) are written by group
commit (group.py); ``record`` writes in the request's own session.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log.group import AccessLogUnavailableError, GroupLog
from services.caseview.access_log.ldv import LdvEmitter
from services.caseview.auth import Principal
from services.caseview.orm import access_log
from shared.http import ProblemError

Outcome = Literal["ok", "not-found", "denied"]


@dataclass(frozen=True)
class Access:
    endpoint: str  # the route template, e.g. "GET /v1/parties/{party_id}/timeline"
    party_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    team: str | None = None
    outcome: Outcome = "ok"
    detail: str | None = None  # never a searched value: "search by bsn", not the BSN


def entries(
    principal: Principal, accesses: Sequence[Access], *, purpose: str | None, at: datetime
) -> list[dict[str, Any]]:
    """The ``access_log`` rows of ``accesses``."""
    teams = ",".join(sorted(principal.teams))[:1000]
    roles = ",".join(sorted(principal.roles))[:500]
    return [
        {
            "at": at,
            "user": principal.user,
            "teams": teams,
            "roles": roles,
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


async def record(
    session: AsyncSession,
    principal: Principal,
    accesses: Sequence[Access],
    *,
    purpose: str | None,
    ldv: LdvEmitter | None = None,
    log: GroupLog | None = None,
) -> None:
    """Commit the entries, in the request's own session or, with ``log``, by group commit
    (group.py); return once they are durable, else fail the read (503 with ``log``)."""
    if not accesses:
        return
    now = datetime.now(UTC)
    rows = entries(principal, accesses, purpose=purpose, at=now)
    if log is None:
        # The request's own session: its read transaction ends here too (on SQLite every
        # transaction holds the write lock, so a second session would wait for this one).
        await session.execute(access_log.insert(), rows)
        await session.commit()
    else:
        # The read's transaction ends first: its connection goes back to the pool while the
        # read waits, and on SQLite the writer's transaction would otherwise wait for it.
        await session.commit()
        try:
            await log.append(rows)
        except AccessLogUnavailableError as exc:
            raise ProblemError(
                503, "Access log unavailable", "The read could not be logged, so it is not shown."
            ) from exc
    if ldv is not None:  # after the commit: a processing action that was really logged
        ldv.emit(accesses, purpose=purpose, at=now)
