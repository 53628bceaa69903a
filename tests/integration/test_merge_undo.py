"""Undoing a merge gives back what it changed: the folded case reopens with its messages
(back with their own party), and the address the merge decision verified loses that rung —
in the router and in caseview's read models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.caseview import orm as cv
from services.caseview.projector import project
from services.router import orm
from shared.contracts import Channel, Evidence, IdentifierKind, Trust
from shared.contracts import commands as c
from shared.db.engine import create_engine, session_factory
from shared.kafka.config import make_producer
from tests.integration.test_router import (
    CLERK,
    bsn,
    command,
    message,
    of_type,
    router,
    send,
    timeline,
)


@pytest.fixture
async def producer(kafka_bootstrap) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(kafka_bootstrap, "test")
    await p.start()
    yield p
    await p.stop()


async def test_undoing_a_merge_moves_the_messages_back_and_unverifies_the_address(
    kafka_bootstrap, pg_urls, topics, producer
):
    person, address = bsn(), f"{uuid.uuid4().hex[:8]}@example.org"
    applied = message(
        (IdentifierKind.BSN, person, Trust.AUTHENTICATED),
        text="Aanvraag bijstand",
        product="bijstand",
    )
    async with router(kafka_bootstrap, pg_urls["router"], topics):
        await send(producer, topics.inbound, applied)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        (opened,) = of_type(events, "case.opened")
        her, her_case = opened.subject, opened.data["case_id"]
        number = opened.data["case_number"]
        # Somebody mails (unauthenticated) quoting her case number: a stray party and case.
        mail = message(
            (IdentifierKind.EMAIL, address, Trust.CLAIMED),
            channel=Channel.EMAIL,
            text=f"Vraag over {number}",
        )
        await send(producer, topics.inbound, mail)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=7)
        (suggested,) = of_type(events, "party.link-suggested")
        stray = suggested.subject
        stray_case = next(e for e in of_type(events, "case.opened") if e.subject == stray)
        await command(
            producer,
            topics.commands,
            c.DecideLink(
                suggestion_id=uuid.UUID(suggested.data["suggestion_id"]),
                confirm=True,
                verify_address=True,
                reason="Zelfde persoon, adres bevestigd",
                by=CLERK,
            ),
            uuid.UUID(stray or ""),
        )
        events = await timeline(kafka_bootstrap, topics.timeline, expect=11)
        (merged,) = of_type(events, "party.merged")
        assert of_type(events, "case.merged")[0].data["message_ids"] == [str(mail.message_id)]
        (verified,) = of_type(events, "party.identifier-added")[-1:]
        assert verified.data["identifier"]["trust"] == "verified"
        assert verified.data["identifier"]["evidence"] == "staff-confirmed"

        await command(
            producer,
            topics.commands,
            c.UnmergeParties(
                merge_id=uuid.UUID(merged.data["merge_id"]), reason="Toch een ander", by=CLERK
            ),
            uuid.UUID(her or ""),
        )
        events = await timeline(kafka_bootstrap, topics.timeline, expect=14)
        (unfolded,) = of_type(events, "case.unfolded")
        assert unfolded.subject == stray
        assert unfolded.data["case_id"] == stray_case.data["case_id"]
        assert unfolded.data["from_case_id"] == her_case
        assert unfolded.data["message_ids"] == [str(mail.message_id)]
        assert unfolded.data["status"] == "open"
        (revoked,) = of_type(events, "party.identifier-revoked")
        assert revoked.subject == her
        assert revoked.data["identifier"]["value"] == address
        assert revoked.data["still_held_as"] is None

        # The next mail from that address, even authenticated by the gateway, is not hers.
        again = message(
            (IdentifierKind.EMAIL, address, Trust.CLAIMED, Evidence.DMARC),
            channel=Channel.EMAIL,
            text="Nog een vraag",
        )
        await send(producer, topics.inbound, again)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=18)
    routed = {e.data["message_id"]: e for e in of_type(events, "message.routed")}
    assert routed[str(again.message_id)].subject != her

    engine = create_engine(pg_urls["router"])
    try:
        async with session_factory(engine)() as s:
            contact = await s.scalar(
                select(orm.contacts.c.case_id).where(orm.contacts.c.message_id == mail.message_id)
            )
            assert str(contact) == stray_case.data["case_id"]
            kept = (
                await s.scalars(
                    select(orm.party_identifiers.c.trust).where(
                        orm.party_identifiers.c.party_id == uuid.UUID(her or ""),
                        orm.party_identifiers.c.value == address,
                    )
                )
            ).all()
            assert kept == []
    finally:
        await engine.dispose()

    # Caseview, fed the same history: the mail is back in its own case, the address gone.
    engine = create_engine(pg_urls["caseview"])
    sessions = session_factory(engine)
    try:
        for event in events:
            async with sessions() as s, s.begin():
                await project(s, event)
        async with sessions() as s:
            entry_case = await s.scalar(
                select(cv.timeline_entries.c.case_id).where(
                    cv.timeline_entries.c.message_id == mail.message_id
                )
            )
            assert str(entry_case) == stray_case.data["case_id"]
            row = (
                await s.execute(
                    select(cv.cases.c.status, cv.cases.c.is_open, cv.cases.c.merged_into).where(
                        cv.cases.c.id == uuid.UUID(stray_case.data["case_id"])
                    )
                )
            ).one()
            assert tuple(row) == ("open", True, None)
            held = (
                await s.scalars(
                    select(cv.party_identifiers.c.trust).where(
                        cv.party_identifiers.c.party_id == uuid.UUID(her or ""),
                        cv.party_identifiers.c.value == address,
                    )
                )
            ).all()
            assert held == []
    finally:
        await engine.dispose()


async def test_a_fold_into_a_case_that_was_folded_itself_goes_to_the_final_case(
    kafka_bootstrap, db_urls, topics, producer
):
    """C3 quotes C2, C2 quotes C1. Once C2 is folded into C1, confirming C3's sender folds
    C3 into C1 directly — never into the closed C2 (whose contacts caseview may already
    have moved on, depending on which partition it projected first)."""
    applied = message(
        (IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED),
        text="Aanvraag bijstand",
        product="bijstand",
    )

    async def decide(events: list[Any], sender: str | None) -> None:
        (suggested,) = [e for e in of_type(events, "party.link-suggested") if e.subject == sender]
        await command(
            producer,
            topics.commands,
            c.DecideLink(
                suggestion_id=uuid.UUID(suggested.data["suggestion_id"]),
                confirm=True,
                reason="Zelfde persoon",
                by=CLERK,
            ),
            uuid.UUID(sender or ""),
        )

    async with router(kafka_bootstrap, db_urls["router"], topics):
        await send(producer, topics.inbound, applied)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        (c1,) = of_type(events, "case.opened")
        second = message(
            (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:8]}@example.org", Trust.CLAIMED),
            channel=Channel.EMAIL,
            text=f"Vraag over {c1.data['case_number']}",
        )
        await send(producer, topics.inbound, second)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=7)
        c2 = next(e for e in of_type(events, "case.opened") if e.subject != c1.subject)
        third = message(
            (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:8]}@example.org", Trust.CLAIMED),
            channel=Channel.EMAIL,
            text=f"Over {c2.data['case_number']}",
        )
        await send(producer, topics.inbound, third)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=11)
        await decide(events, c2.subject)  # C2 folds into C1
        events = await timeline(kafka_bootstrap, topics.timeline, expect=14)
        c3 = next(
            e for e in of_type(events, "case.opened") if e.subject not in (c1.subject, c2.subject)
        )
        await decide(events, c3.subject)  # C3 quoted C2: it goes where C2 went
        events = await timeline(kafka_bootstrap, topics.timeline, expect=17)
    folds = {e.data["case_id"]: e.data["into_case_id"] for e in of_type(events, "case.merged")}
    assert folds == {c2.data["case_id"]: c1.data["case_id"], c3.data["case_id"]: c1.data["case_id"]}
