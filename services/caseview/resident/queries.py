"""The resident's cases and one case's own messages and replies, from the read models.

A case is the resident's when its party is one of theirs (identity.py) and it was not folded
into another case. Messages are the ``message.routed`` entries of the resident's own parties;
replies are the ``replies`` rows to them, with their latest status. Nothing else of a case's
history is read here, so notes, handovers and routing cannot leak through a forgotten filter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.auth import Resident
from services.caseview.config import CaseviewSettings
from services.caseview.normalize import is_confidential_product
from services.caseview.orm import cases, replies, timeline_entries
from services.caseview.resident.identity import MyParties
from services.caseview.resident.models import (
    HIGHER_LOA_NOTICE,
    MyCase,
    MyCaseDetail,
    MyDocument,
    MyMessage,
    MyReply,
)
from services.caseview.resident.products import plain_product
from shared.contracts import MessageRouted


@dataclass(frozen=True)
class Reading:
    """Who reads, and what names things in plain words."""

    resident: Resident
    parties: MyParties
    settings: CaseviewSettings
    team_names: dict[str, str]

    def locked(self, row: Row[Any]) -> bool:
        confidential = row.confidential or is_confidential_product(
            row.product, self.settings.confidential_products
        )
        return confidential and not self.resident.at_least(self.settings.resident_confidential_loa)

    def case(self, row: Row[Any]) -> MyCase:
        common: dict[str, Any] = {
            "id": row.id,
            "number": row.number,
            "opened_at": row.opened_at,
            "last_change_at": row.last_activity_at,
            "closed_at": row.closed_at,
        }
        if self.locked(row):
            return MyCase(
                **common,
                product=None,
                status=None,
                team=None,
                due_at=None,
                locked=True,
                notice=HIGHER_LOA_NOTICE,
            )
        return MyCase(
            **common,
            product=plain_product(self.settings.routing_file, row.product),
            status=row.status,
            team=self.team_names.get(row.owner_team, row.owner_team),
            due_at=row.due_at,
            locked=False,
        )


def _mine(parties: MyParties) -> Any:
    return cases.c.party_id.in_(parties.members) & cases.c.merged_into.is_(None)


async def my_cases(session: AsyncSession, reading: Reading) -> list[MyCase]:
    if reading.parties.empty:
        return []
    rows = await session.execute(
        select(cases)
        .where(_mine(reading.parties))
        .order_by(cases.c.last_activity_at.desc(), cases.c.id)
        .limit(500)  # a resident with more cases than this is not a person
    )
    return [reading.case(r) for r in rows]


async def my_case(
    session: AsyncSession, reading: Reading, case_id: uuid.UUID
) -> tuple[MyCaseDetail, uuid.UUID] | None:
    """The case and its party (for the access log); None when it is not the resident's."""
    if reading.parties.empty:
        return None
    row = (
        await session.execute(select(cases).where(cases.c.id == case_id, _mine(reading.parties)))
    ).first()
    if row is None:
        return None
    summary = reading.case(row)
    if summary.locked:
        return MyCaseDetail(**summary.model_dump(), messages=[], replies=[]), row.party_id
    members = reading.parties.members
    return MyCaseDetail(
        **summary.model_dump(),
        messages=await _messages(session, case_id, members),
        replies=await _replies(session, case_id, members),
    ), row.party_id


async def my_case_party(
    session: AsyncSession, reading: Reading, case_id: uuid.UUID
) -> uuid.UUID | None:
    """The case's party when the case is the resident's (locked or not), else None."""
    if reading.parties.empty:
        return None
    found = await session.scalar(
        select(cases.c.party_id).where(cases.c.id == case_id, _mine(reading.parties))
    )
    return found


def documents(refs: Iterable[dict[str, Any]] | None) -> list[MyDocument]:
    return [
        MyDocument(
            sha256=r["sha256"],
            filename=r.get("filename"),
            media_type=str(r.get("media_type") or "application/octet-stream"),
            size=int(r.get("size") or 0),
        )
        for r in refs or []
    ]


async def _messages(
    session: AsyncSession, case_id: uuid.UUID, members: frozenset[uuid.UUID]
) -> list[MyMessage]:
    t = timeline_entries
    rows = await session.execute(
        select(t.c.occurred_at, t.c.channel, t.c.body)
        .where(t.c.case_id == case_id, t.c.type == MessageRouted.TYPE, t.c.party_id.in_(members))
        .order_by(t.c.sort_at, t.c.sequence)
    )
    return [
        MyMessage(
            at=r.occurred_at,
            channel=r.channel or "",
            subject=r.body.get("subject"),
            text=r.body.get("text") or "",
            documents=documents(r.body.get("attachments")),
        )
        for r in rows
    ]


async def _replies(
    session: AsyncSession, case_id: uuid.UUID, members: frozenset[uuid.UUID]
) -> list[MyReply]:
    r = replies
    rows = await session.execute(
        select(r)
        .where(r.c.case_id == case_id, r.c.party_id.in_(members))
        .order_by(r.c.requested_at, r.c.reply_id)
    )
    return [
        MyReply(
            at=x.requested_at,
            channel=x.channel,
            subject=x.subject,
            text=x.text,
            notice_only=x.notice_only,
            status=x.status,
            status_at=x.status_at,
            documents=documents(x.attachments),
        )
        for x in rows
    ]


async def my_attachment(
    session: AsyncSession, reading: Reading, case_id: uuid.UUID, sha256: str
) -> tuple[uuid.UUID, MyDocument] | None:
    """A document the resident sent on this case (their own messages only)."""
    found = await my_case(session, reading, case_id)
    if found is None or found[0].locked:
        return None
    for message in found[0].messages:
        for doc in message.documents:
            if doc.sha256 == sha256:
                return found[1], doc
    return None
