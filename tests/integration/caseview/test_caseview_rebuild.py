"""Rebuild: replaying the topic from offset 0 into fresh tables gives exactly the read model
the incremental projection built, and the switch-over keeps the service consistent."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, update

from services.caseview import orm
from services.caseview.projection_diff import projection_hash
from services.caseview.rebuild import rebuild
from shared.contracts import (
    CaseHandedOver,
    Channel,
    LinkDecided,
    LinkSuggested,
    NoteAdded,
    ParticipantAdded,
    PartyIdentifier,
    PartyMerged,
    PartyUnmerged,
)
from shared.contracts.outbound import (
    ReplyChannel,
    ReplyRequested,
    ReplyStatus,
    ReplyStatusChanged,
)
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    running,
    send,
    settings_for,
    token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CET = timezone(timedelta(hours=1))


def _reply(p: Party, case_id: uuid.UUID) -> list[CloudEvent]:
    """A reply on the case, sent and then delivered (the replies projection, issue #17)."""
    ids = {"reply_id": uuid.uuid4(), "case_id": case_id, "party_id": p.id}
    requested = ReplyRequested(
        **ids,
        identifier_id=uuid.uuid4(),
        channel=ReplyChannel.LETTER,
        recipient_trust="authenticated",
        subject="Antwoord",
        text="Uw paspoort ligt klaar.",
        template="algemeen-antwoord",
        attachments=[],
        notice_only=False,
        by=STAFF,
        at=p.at(),
    )
    events = [p.event(requested)]
    for status in (ReplyStatus.SENT, ReplyStatus.HANDED_TO_PRINT):
        events.append(
            p.event(
                ReplyStatusChanged(
                    **ids,
                    channel=ReplyChannel.LETTER,
                    status=status,
                    reason=None,
                    reference=None,
                    at=p.at(),
                )
            )
        )
    return events


def history() -> list[CloudEvent]:
    """Several parties with cases, contacts, handovers, notes, replies, suggestions, merges,
    undo."""
    events: list[CloudEvent] = []
    parties = [Party() for _ in range(5)]
    for p in parties[1::2]:
        # Events stamped in Dutch winter time (+01:00), as channels send them: every write
        # must store the same instant on both databases, by the live and the rebuild path.
        p.clock = p.clock.astimezone(CET)
    for n, p in enumerate(parties):
        events.append(p.created(f"Persoon {n} Müller", ("bsn", f"{n:09d}", "authenticated")))
        for m in range(2):
            case_id, number, opened = p.case(["paspoort", "bijstand"][m], "kcc")
            events += [
                opened,
                p.message(case_id, number, Channel.WEB, f"bericht {n}.{m}"),
                p.message(case_id, number, Channel.EMAIL, f"vervolg {n}.{m}"),
                p.event(
                    CaseHandedOver(
                        case_id=case_id,
                        case_number=number,
                        party_id=p.id,
                        from_team="kcc",
                        to_team=f"team-{m}",
                        by=STAFF,
                        reason="hoort daar",
                        handover_count=1,
                        at=p.at(),
                    )
                ),
                p.event(
                    ParticipantAdded(
                        case_id=case_id, party_id=p.id, team="kcc", by=STAFF, reason=None, at=p.at()
                    )
                ),
                p.event(
                    NoteAdded(
                        note_id=uuid.uuid4(),
                        case_id=case_id,
                        party_id=p.id,
                        text="notitie",
                        by=STAFF,
                        at=p.at(),
                    )
                ),
            ]
            events += _reply(p, case_id)
    a, b, c = parties[:3]
    suggestion = uuid.uuid4()
    claimed = PartyIdentifier.model_validate(
        {"kind": "bsn", "value": "000000000", "trust": "claimed"}
    )
    events.append(
        b.event(
            LinkSuggested(
                suggestion_id=suggestion,
                party_id=b.id,
                suggested_party_id=a.id,
                identifier=claimed,
                message_id=uuid.uuid4(),
                at=b.at(),
            )
        )
    )
    events.append(
        b.event(
            LinkDecided(
                suggestion_id=suggestion,
                party_id=b.id,
                suggested_party_id=a.id,
                confirmed=True,
                by=STAFF,
                reason="klopt",
                at=b.at(),
            )
        )
    )
    merges = [uuid.uuid4(), uuid.uuid4()]
    for merge_id, merged in zip(merges, (b, c), strict=True):
        events.append(
            a.event(
                PartyMerged(
                    merge_id=merge_id,
                    party_id=a.id,
                    merged_party_id=merged.id,
                    by=STAFF,
                    reason="zelfde persoon",
                    at=a.at(),
                )
            )
        )
    events.append(
        a.event(
            PartyUnmerged(
                merge_id=merges[1],
                party_id=a.id,
                merged_party_id=c.id,
                by=STAFF,
                reason="toch niet",
                at=a.at(),
            )
        )
    )
    return events


async def test_rebuild_equals_incremental_and_switches_over(
    kafka_bootstrap, fresh_db, topics, producer
):
    events = history()
    await send(producer, topics.timeline, *events)
    settings = settings_for(fresh_db, kafka_bootstrap, topics)
    engine = create_engine(fresh_db)
    sessions = session_factory(engine)
    kcc = token(teams=["kcc"], roles=["kcc"])
    party = uuid.UUID(events[0].subject or "")
    try:
        async with running(settings) as cv:
            await cv.projected(*events)
            before = (await cv.client.get(f"/v1/parties/{party}/timeline", headers=kcc)).json()
            async with sessions() as s:
                incremental, tables = await projection_hash(s)
                logged = await s.scalar(select(func.count()).select_from(orm.access_log))
                head = await s.scalar(select(func.max(orm.timeline_entries.c.position)))
            assert tables["timeline_entries"] != tables["parties"]  # the hash sees content
            assert tables["replies"] != tables["reply_statuses"]

            # A shadow build while the service runs: identical, and nothing live changes.
            report = await rebuild(settings, switch=False, timeout=120)
            assert report.events == len(events)
            assert not report.switched
            assert report.shadow_hash == incremental
            assert report.live_hash == incremental

            # The real thing: rebuilt and switched over, under the running projector.
            report = await rebuild(settings, switch=True, timeout=120)
            assert report.switched and report.identical
            assert report.live_hash == incremental
            after = (await cv.client.get(f"/v1/parties/{party}/timeline", headers=kcc)).json()
            assert after == before
            async with sessions() as s:
                # The access log is not a projection: untouched (and reads went on).
                assert (await s.scalar(select(func.count()).select_from(orm.access_log)) or 0) > (
                    logged or 0
                )
                # Stream positions continue above every position handed out before.
                low = await s.scalar(select(func.min(orm.timeline_entries.c.position)))
                assert low is not None and head is not None and low > head

            # The live projector carries on from the rebuilt offsets: new events once, old
            # ones not again.
            p = Party(
                id=party, sequence=max(e.sequence or 0 for e in events if e.subject == str(party))
            )
            p.clock = max(e.time for e in events)
            case_id = uuid.UUID(next(i["case_id"] for i in before["items"] if i["case_id"]))
            extra = p.event(
                NoteAdded(
                    note_id=uuid.uuid4(),
                    case_id=case_id,
                    party_id=party,
                    text="na",
                    by=STAFF,
                    at=p.at(),
                )
            )
            await send(producer, topics.timeline, extra, *events[:3])
            await cv.projected(extra)
            latest = (await cv.client.get(f"/v1/parties/{party}/timeline", headers=kcc)).json()
            assert latest["items"][0]["event_id"] == str(extra.id)
            assert latest["total"]["value"] == before["total"]["value"] + 1
    finally:
        await engine.dispose()


async def test_a_differing_projection_is_named_per_table_and_not_switched_unless_forced(
    kafka_bootstrap, fresh_db, topics, producer
):
    events = history()
    await send(producer, topics.timeline, *events)
    settings = settings_for(fresh_db, kafka_bootstrap, topics)
    engine = create_engine(fresh_db)
    sessions = session_factory(engine)
    try:
        async with running(settings) as cv:
            await cv.projected(*events)
            async with sessions() as s, s.begin():
                # A live projection gone wrong: one case with a wrong owner, one contact lost.
                wrong_case = await s.scalar(select(orm.cases.c.id).limit(1))
                await s.execute(
                    update(orm.cases).where(orm.cases.c.id == wrong_case).values(owner_team="x")
                )
                lost = await s.scalar(select(orm.timeline_entries.c.event_id).limit(1))
                await s.execute(
                    delete(orm.timeline_entries).where(orm.timeline_entries.c.event_id == lost)
                )
                damaged, _ = await projection_hash(s)

            report = await rebuild(settings, switch=False, timeout=120)
            by_table = {d.table: d for d in report.differences}
            assert set(by_table) == {"cases", "timeline_entries"}
            assert (by_table["cases"].changed, by_table["cases"].only_live) == (1, 0)
            assert by_table["cases"].first == (str(wrong_case),)
            assert by_table["cases"].columns == ("owner_team",)
            assert "(columns: owner_team)" in by_table["cases"].describe()
            assert by_table["timeline_entries"].columns == ()  # missing, not changed
            assert by_table["timeline_entries"].only_rebuilt == 1
            assert by_table["timeline_entries"].first == (str(lost),)

            # A switch is refused on a difference: the live tables stay as they are.
            report = await rebuild(settings, switch=True, timeout=120)
            assert report.refused and not report.switched
            assert {d.table for d in report.differences} == {"cases", "timeline_entries"}
            async with sessions() as s:
                assert (await projection_hash(s))[0] == damaged

            # Forced, the rebuild replaces them, and says what it replaced.
            report = await rebuild(settings, switch=True, force=True, timeout=120)
            assert report.switched and report.identical and not report.refused
            assert {d.table for d in report.differences} == {"cases", "timeline_entries"}
            async with sessions() as s:
                owner = await s.scalar(
                    select(orm.cases.c.owner_team).where(orm.cases.c.id == wrong_case)
                )
                assert owner != "x"
    finally:
        await engine.dispose()
