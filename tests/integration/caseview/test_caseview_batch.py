"""The batch projector writes exactly what the per-event projector writes (both backends)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.caseview import orm
from services.caseview.projector import project, project_batch
from shared.contracts import (
    CaseOpened,
    Channel,
    IdentifierKind,
    MessageRouted,
    NoteAdded,
    PartyCreated,
    RoutingExplanation,
    Trust,
    to_cloudevent,
)
from shared.contracts.timeline import Actor, LinkDecided, LinkSuggested, PartyIdentifier
from shared.db.engine import create_engine, session_factory
from shared.envelope import source_urn

SOURCE = source_urn("00000000000000000000", "eenloket-router")
EXPLAIN = RoutingExplanation(
    case_rule="new-case", case_detail="-", owner_rule="-", owner_detail="-", ruleset_version="t"
)


def history(start: datetime):
    party, case = uuid.uuid4(), uuid.uuid4()
    payloads = [
        PartyCreated(
            party_id=party,
            provisional=True,
            display_name="Anna de Wit",
            identifiers=[],
            created_at=start,
        ),
        CaseOpened(
            case_id=case,
            case_number=f"ZAAK-2026-{uuid.uuid4().int % 10**10:010d}",
            party_id=party,
            product=None,
            owner_team="kcc",
            status="open",
            opened_at=start,
        ),
    ]
    for n in range(3):
        payloads.append(
            MessageRouted(
                message_id=uuid.uuid4(),
                party_id=party,
                case_id=case,
                case_number="ZAAK-2026-0000000000",
                channel=Channel.CHAT,
                received_at=start + timedelta(minutes=10 * (n + 1)),
                display_name=None,
                subject=None,
                text=f"bericht {n}",
                attachments=[],
                owner_team="kcc",
                explanation=EXPLAIN,
            )
        )
    payloads.append(
        NoteAdded(
            note_id=uuid.uuid4(),
            case_id=case,
            party_id=party,
            text="teruggebeld",
            by=Actor(user="u", team="kcc"),
            at=start + timedelta(minutes=5),
        )
    )
    # Suggestions are written once per batch (sinks.py); a decision later in the batch
    # finds its suggestion written, and a suggestion made again leaves the decision.
    first, second, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mail = PartyIdentifier(kind=IdentifierKind.EMAIL, value="anna@example.org", trust=Trust.CLAIMED)
    suggested = [
        LinkSuggested(
            suggestion_id=s,
            party_id=party,
            suggested_party_id=other,
            identifier=mail,
            message_id=uuid.uuid4(),
            at=start + timedelta(minutes=40),
        )
        for s in (first, second)
    ]
    decided = LinkDecided(
        suggestion_id=first,
        party_id=party,
        suggested_party_id=other,
        confirmed=False,
        by=Actor(user="u", team="kcc"),
        reason="iemand anders",
        at=start + timedelta(minutes=41),
    )
    payloads += [suggested[0], suggested[1], decided, suggested[0]]
    events = [
        to_cloudevent(
            p, source=SOURCE, subject=party, sequence=n + 1, time=start + timedelta(minutes=n)
        )
        for n, p in enumerate(payloads)
    ]
    return party, case, events


async def state(sessions, party, case):
    async with sessions() as s:
        entries = (
            await s.execute(
                select(
                    orm.timeline_entries.c.sequence,
                    orm.timeline_entries.c.sort_at,
                    orm.timeline_entries.c.type,
                )
                .where(orm.timeline_entries.c.party_id == party)
                .order_by(orm.timeline_entries.c.position)
            )
        ).all()
        touched = await s.scalar(select(orm.cases.c.last_activity_at).where(orm.cases.c.id == case))
        ls = orm.link_suggestions
        suggestions = (
            await s.execute(
                select(
                    ls.c.identifier_value, ls.c.identifier_trust, ls.c.suggested_at, ls.c.decision
                )
                .where(ls.c.party_id == party)
                .order_by(ls.c.decision.is_(None), ls.c.suggested_at)
            )
        ).all()
    return [tuple(e) for e in entries], touched, [tuple(x) for x in suggestions]


async def test_batch_equals_one_by_one(db_urls):
    engine = create_engine(db_urls["caseview"])
    sessions = session_factory(engine)
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)
    one_party, one_case, one = history(start)
    batch_party, batch_case, batch = history(start)
    async with sessions() as s, s.begin():
        for event in one:
            await project(s, event)
    async with sessions() as s, s.begin():
        await project_batch(s, batch)
    one_state = await state(sessions, one_party, one_case)
    batch_state = await state(sessions, batch_party, batch_case)
    await engine.dispose()
    assert batch_state == one_state
    entries, touched, suggestions = batch_state
    assert [e[0] for e in entries] == list(range(1, 11))
    assert touched == start + timedelta(minutes=30)  # the latest contact, not the note
    made = start + timedelta(minutes=40)
    assert suggestions == [
        ("anna@example.org", "claimed", made, "rejected"),
        ("anna@example.org", "claimed", made, None),
    ]
