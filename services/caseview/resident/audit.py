"""Every resident read goes into the access log, with the purpose "inzage door betrokkene",
the resident's ``sub`` and the role "resident": committed before the answer leaves, as any
read (access_log/record.py), and as an LDV processing action when that is on."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.access_log import record
from services.caseview.access_log.ldv import RESIDENT_PURPOSE, emitter
from services.caseview.auth import Resident
from services.caseview.web import endpoint, settings


async def log(
    request: Request,
    session: AsyncSession,
    who: Resident,
    parties: Iterable[uuid.UUID],
    *,
    case_id: uuid.UUID | None = None,
    outcome: record.Outcome = "ok",
    detail: str | None = None,
) -> None:
    route = endpoint(request)
    accesses = [
        record.Access(route, party_id=p, case_id=case_id, outcome=outcome, detail=detail)
        for p in parties
    ] or [record.Access(route, case_id=case_id, outcome="not-found", detail=detail)]
    await record.record(
        session,
        who.as_principal(),
        accesses,
        purpose=RESIDENT_PURPOSE,
        ldv=emitter(request.app.state, settings(request)),
    )
