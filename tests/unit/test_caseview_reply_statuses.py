"""A reply's current status in the read model (services/caseview/replies/projection.py):
statuses may arrive out of order — a provider's report can overtake the worker's "sent" —
and the current status never goes back (the history keeps every one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from services.caseview.orm import metadata, replies, reply_statuses
from services.caseview.projector import project
from shared.contracts import Actor, to_cloudevent
from shared.contracts.outbound import (
    ReplyChannel,
    ReplyRequested,
    ReplyStatus,
    ReplyStatusChanged,
)
from shared.envelope import source_urn

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ROUTER = source_urn("00000000000000000000", "eenloket-router")
S = ReplyStatus


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with async_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


@pytest.mark.parametrize(
    ("arrivals", "current"),
    [
        ([S.SENT, S.DELIVERED], S.DELIVERED),
        ([S.DELIVERED, S.SENT], S.DELIVERED),  # the report overtook the worker
        ([S.SENT, S.DELIVERED, S.BOUNCED], S.BOUNCED),  # a delivered mail may still bounce
        ([S.BOUNCED, S.SENT], S.BOUNCED),
        ([S.FAILED, S.DELIVERED], S.FAILED),
    ],
)
async def test_the_current_status_never_goes_back(
    session: AsyncSession, arrivals: list[ReplyStatus], current: ReplyStatus
) -> None:
    party, case, reply = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    requested = ReplyRequested(
        reply_id=reply,
        case_id=case,
        party_id=party,
        identifier_id=uuid.uuid4(),
        channel=ReplyChannel.EMAIL,
        recipient_trust="verified",
        subject=None,
        text="Uw paspoort ligt klaar.",
        template=None,
        attachments=[],
        notice_only=False,
        by=Actor(user="kcc-1", team="kcc"),
        at=NOW,
    )
    await project(session, to_cloudevent(requested, source=ROUTER, subject=party, sequence=1))
    for n, status in enumerate(arrivals, start=2):
        changed = ReplyStatusChanged(
            reply_id=reply,
            case_id=case,
            party_id=party,
            channel=ReplyChannel.EMAIL,
            status=status,
            reason=None,
            reference=None,
            at=NOW + timedelta(seconds=n),
        )
        await project(session, to_cloudevent(changed, source=ROUTER, subject=party, sequence=n))
    assert await session.scalar(select(replies.c.status)) == current.value
    history = (await session.execute(select(reply_statuses.c.status))).scalars().all()
    assert sorted(history) == sorted(s.value for s in [S.REQUESTED, *arrivals])
