"""The access log's read route (auditors only; their own reads are logged too)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from services.caseview.access_log.audited import Audited, Need, Target
from services.caseview.access_log.models import AccessLogPage
from services.caseview.access_log.queries import access_log_page, decode_access_cursor
from services.caseview.auth import AUDIT
from services.caseview.web import NO_NUL, Cursor, Limit, invalid_cursor, responses, when

router = APIRouter(prefix="/v1")


@dataclass(frozen=True)
class _Page:
    before: int | None


@router.get(
    "/access-log",
    tags=["audit"],
    operation_id="getAccessLog",
    response_model=AccessLogPage,
    responses=responses(400),
    summary="Who read which party or case, when and why (auditors only; this read is logged)",
)
async def get_access_log(
    read: Audited,
    limit: Limit = 50,
    cursor: Cursor = None,
    user: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    party_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before")] = None,
) -> AccessLogPage:
    async def find() -> _Page:
        if cursor is None:
            return _Page(None)
        try:
            return _Page(decode_access_cursor(cursor))
        except ValueError as exc:
            raise invalid_cursor() from exc

    # The page is read after the audited read logged it, so an auditor's own read is in
    # the log it reads. The filters are logged, not guarded: a refusal logs nothing.
    page = await read(
        Need(AUDIT, detail="Only auditors read the access log."),
        Target(),
        find,
        logged=lambda _: [Target(party_id=party_id, case_id=case_id, detail="access log")],
    )
    return await access_log_page(
        read.session,
        limit=limit,
        before=page.before,
        user=user,
        party_id=party_id,
        case_id=case_id,
        since=when(since),
        until=when(until),
    )
