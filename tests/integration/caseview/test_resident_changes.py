"""The resident's live stream signals only entries in the resident's own history: another
party's message or reply on the same case, or an internal note, is not even a moment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.caseview.orm import timeline_entries
from services.caseview.resident.changes import changes
from shared.contracts import CaseStatusChanged, MessageRouted
from shared.contracts.outbound import ReplyRequested
from shared.db.engine import create_engine, session_factory

pytestmark = pytest.mark.postgres


async def test_only_my_entries_of_the_case_are_signalled(db_urls: dict[str, str]) -> None:
    mine, other, case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    entries = [  # (party, type): in this order
        (mine, MessageRouted.TYPE),
        (other, MessageRouted.TYPE),  # someone else's message on my case
        (mine, "nl.eenloket.note.added"),  # an internal note: never shown
        (other, ReplyRequested.TYPE),  # a reply to someone else
        (mine, CaseStatusChanged.TYPE),
    ]
    engine = create_engine(db_urls["caseview"])
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            for n, (party, type_) in enumerate(entries):
                await session.execute(
                    timeline_entries.insert().values(
                        event_id=uuid.uuid4(),
                        party_id=party,
                        sequence=n + 1,
                        sort_at=now,
                        case_id=case,
                        type=type_,
                        occurred_at=now,
                        recorded_at=now,
                        body={},
                    )
                )
        async with sessions() as session:
            got = await changes(session, case, frozenset({mine}), after=0, limit=10)
            positions = await session.scalars(
                timeline_entries.select()
                .with_only_columns(timeline_entries.c.position)
                .where(timeline_entries.c.case_id == case)
                .order_by(timeline_entries.c.position)
            )
            all_positions = list(positions)
    finally:
        await engine.dispose()
    assert [c.position for c in got] == [all_positions[0], all_positions[4]]
    assert {c.case_id for c in got} == {case}
