"""Party merges and undo: one history after a merge, two again after an undo, whatever the
order in which the two parties' partitions are consumed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.caseview.parties.merges import members, resolve
from services.caseview.parties.queries import party_view
from services.caseview.projector import project
from services.caseview.timeline.queries import TimelineFilter, timeline
from services.caseview.viewer import Viewer
from shared.contracts import Actor, CaseMerged, Channel, PartyMerged, PartyUnmerged
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import Party, running, send, settings_for, token

VIEWER = Viewer(teams=frozenset({"kcc"}))
LEAD = Actor(user="u-lead", team="kcc")


def scenario() -> tuple[Party, Party, uuid.UUID, list[CloudEvent], list[CloudEvent]]:
    """A and B (the same person), each with a case and contacts; a merge of B into A, a
    contact of B after the merge, and the undo. Returns both parties' event lists."""
    a, b = Party(), Party()
    b.clock = a.clock  # one clock, so their histories interleave in time
    merge_id = uuid.uuid4()
    ea = [a.created("Anna de Boer", ("bsn", "999990019", "authenticated"))]
    b.clock = a.clock
    eb = [b.created("A. de Boer", ("email", f"{uuid.uuid4().hex[:6]}@example.nl", "claimed"))]
    a.clock = b.clock
    case_a, no_a, opened_a = a.case("paspoort", "kcc")
    ea += [opened_a, a.message(case_a, no_a, Channel.WEB, "A1")]
    b.clock = a.clock
    case_b, no_b, opened_b = b.case("afval", "kcc")
    eb += [opened_b, b.message(case_b, no_b, Channel.EMAIL, "B1")]
    a.clock = b.clock
    ea.append(
        a.event(
            PartyMerged(
                merge_id=merge_id,
                party_id=a.id,
                merged_party_id=b.id,
                by=LEAD,
                reason="zelfde persoon",
                at=a.at(),
            )
        )
    )
    b.clock = a.clock
    eb.append(b.message(case_b, no_b, Channel.PHONE, "B2"))
    a.clock = b.clock
    ea.append(
        a.event(
            PartyUnmerged(
                merge_id=merge_id,
                party_id=a.id,
                merged_party_id=b.id,
                by=LEAD,
                reason="toch niet",
                at=a.at(),
            )
        )
    )
    return a, b, merge_id, ea, eb


def orders(ea: list[CloudEvent], eb: list[CloudEvent]) -> dict[str, list[CloudEvent]]:
    """Arrival orders that keep each party's own order (one partition each)."""
    alternate = [e for pair in zip(ea, eb, strict=True) for e in pair]
    return {"a-first": ea + eb, "b-first": eb + ea, "alternating": alternate}


def newest_first(events: list[CloudEvent]) -> list[str]:
    return [
        str(e.id)
        for e in sorted(events, key=lambda e: (e.time, e.subject, e.sequence), reverse=True)
    ]


@pytest.mark.parametrize("order", ["a-first", "b-first", "alternating"])
@pytest.mark.postgres
async def test_merge_and_undo_do_not_depend_on_arrival_order(db_urls, order):
    a, b, merge_id, ea, eb = scenario()
    unmerge = ea.pop()  # applied last, after checking the merged state
    engine = create_engine(db_urls["caseview"])
    sessions = session_factory(engine)
    try:
        for event in orders(ea, eb)[order]:
            async with sessions() as s, s.begin():
                await project(s, event)

        async def history(party_id: uuid.UUID) -> tuple[uuid.UUID, list[str]]:
            async with sessions() as s:
                root = await resolve(s, party_id)
                page = await timeline(
                    s,
                    VIEWER,
                    await members(s, root),
                    root=root,
                    limit=100,
                    before=None,
                    filters=TimelineFilter(),
                    count_cap=1000,
                )
            return page.party_id, [str(i.event_id) for i in page.items]

        # Merged: one history, reached from either party, interleaved by time.
        assert await history(a.id) == (a.id, newest_first(ea + eb))
        assert await history(b.id) == (a.id, newest_first(ea + eb))
        async with sessions() as s:
            view = await party_view(s, VIEWER, b.id, now=datetime.now(UTC))
        assert view is not None
        assert view.merged_into == a.id and view.party_id == a.id
        assert set(view.members) == {a.id, b.id}
        assert {i.kind for i in view.identifiers} == {"bsn", "email"}
        assert [(m.merge_id, m.active) for m in view.merges] == [(merge_id, True)]
        assert len(view.open_cases) == 2

        async with sessions() as s, s.begin():
            await project(s, unmerge)
        # Undone: two histories again, each with its own entries; nothing was lost.
        assert await history(a.id) == (a.id, newest_first([*ea, unmerge]))
        assert await history(b.id) == (b.id, newest_first(eb))
        async with sessions() as s:
            view = await party_view(s, VIEWER, b.id, now=datetime.now(UTC))
        assert view is not None and view.merged_into is None and view.members == [b.id]
        assert [(m.merge_id, m.active, m.unmerge_reason) for m in view.merges] == [
            (merge_id, False, "toch niet")
        ]
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_case_folded_by_a_merge_is_named_for_the_undo(db_urls):
    """The undo's preview in the console names what goes back: also a case the merge folded
    into the survivor's (not listed with the open and closed cases any more)."""
    a, b = Party(), Party()
    events = [a.created("Anna de Boer", ("bsn", "999990019", "authenticated"))]
    events.append(b.created("A. de Boer", ("email", "a.deboer@example.nl", "claimed")))
    case_a, no_a, opened_a = a.case("paspoort", "kcc")
    case_b, no_b, opened_b = b.case("paspoort", "kcc")
    events += [opened_a, opened_b]
    merge = PartyMerged(
        merge_id=uuid.uuid4(),
        party_id=a.id,
        merged_party_id=b.id,
        by=LEAD,
        reason="zelfde",
        at=a.at(),
    )
    events.append(a.event(merge))
    fold = CaseMerged(
        case_id=case_b,
        into_case_id=case_a,
        into_case_number=no_a,
        party_id=a.id,
        message_ids=[],
        by=LEAD,
        reason="zelfde vraag",
        at=a.at(),
    )
    events.append(a.event(fold))
    engine = create_engine(db_urls["caseview"])
    sessions = session_factory(engine)
    try:
        for event in events:
            async with sessions() as s, s.begin():
                await project(s, event)
        async with sessions() as s:
            view = await party_view(s, VIEWER, a.id, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    assert view is not None
    assert [c.id for c in view.open_cases] == [case_a]
    assert [(c.id, c.number, c.party_id, c.merged_into) for c in view.folded_cases] == [
        (case_b, no_b, b.id, case_a)
    ]


@pytest.mark.kafka
@pytest.mark.postgres
async def test_merge_and_undo_through_kafka_and_the_api(kafka_bootstrap, pg_urls, topics, producer):
    a, b, _, ea, eb = scenario()
    unmerge = ea.pop()
    await send(producer, topics.timeline, *eb, *ea)  # keyed by party: two partitions (likely)
    kcc = token(teams=["kcc"], roles=["kcc"])
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(*ea, *eb)

        async def timeline(party_id: uuid.UUID) -> dict[str, Any]:
            r = await cv.client.get(f"/v1/parties/{party_id}/timeline", headers=kcc)
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        merged = await timeline(b.id)
        assert merged["party_id"] == str(a.id)
        assert [i["event_id"] for i in merged["items"]] == newest_first(ea + eb)
        assert merged["total"]["value"] == len(ea) + len(eb)
        # The search by B's identifier leads to the surviving party.
        email = eb[0].data["identifiers"][0]["value"]
        r = await cv.client.post(
            "/v1/parties/search", json={"by": "email", "value": email.upper()}, headers=kcc
        )
        assert [(h["party_id"], h["matched_party_id"]) for h in r.json()["items"]] == [
            (str(a.id), str(b.id))
        ]

        await send(producer, topics.timeline, unmerge)
        await cv.projected(unmerge)
        assert [i["event_id"] for i in (await timeline(b.id))["items"]] == newest_first(eb)
        assert [i["event_id"] for i in (await timeline(a.id))["items"]] == newest_first(
            [*ea, unmerge]
        )
