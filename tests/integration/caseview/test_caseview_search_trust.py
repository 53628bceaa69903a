"""Search by BSN: the party that holds it authenticated comes first; parties that merely
claimed it are labelled so (trust on every hit), never ahead of it."""

from __future__ import annotations

import uuid

from stdnum.nl import bsn

from services.caseview.parties.queries import find_parties
from services.caseview.projector import project
from shared.db.engine import create_engine, session_factory
from tests.integration.caseview.conftest import Party


def new_bsn() -> str:
    while True:
        value = f"{uuid.uuid4().int % 10**9:09d}"
        if bsn.is_valid(value):
            return value


async def test_search_by_bsn_lists_the_authenticated_holder_first(db_urls):
    value = new_bsn()
    # Alphabetically first, and created first: only the trust rung may put it last.
    claimer_a, resident, claimer_b = Party(), Party(), Party()
    events = [
        claimer_a.created(
            "Aaron Aardappel",
            ("email", f"{uuid.uuid4().hex[:8]}@x.nl", "claimed"),
            ("bsn", value, "claimed"),
        ),
        resident.created("Zoë Zwart", ("bsn", value, "authenticated")),
        claimer_b.created(None, ("bsn", value, "claimed")),
    ]
    engine = create_engine(db_urls["caseview"])
    try:
        sessions = session_factory(engine)
        for event in events:
            async with sessions() as s, s.begin():
                await project(s, event)
        async with sessions() as s:
            hits = await find_parties(s, "bsn", value, limit=10)
    finally:
        await engine.dispose()
    assert (hits.items[0].party_id, hits.items[0].trust) == (resident.id, "authenticated")
    assert {(h.party_id, h.trust) for h in hits.items[1:]} == {
        (claimer_a.id, "claimed"),
        (claimer_b.id, "claimed"),
    }
    assert hits.items[1].evidence is None  # stated by a sender, proven by nothing
