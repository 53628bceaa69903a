"""Which channel and address a reply goes to when staff name none (issue #17,
services/caseview/replies/choice.py), on a read model in SQLite in memory: the resident's
last message on the case, else the party's preferred channel, else a Dutch 422; an
opted-out channel is never chosen and refused when named. The preferences come in through
the projection of ``party.contact-preferences-changed``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from services.caseview.orm import metadata, party_identifiers, timeline_entries
from services.caseview.parties import preferences
from services.caseview.projector import project
from services.caseview.replies.choice import choose
from services.caseview.replies.models import ReplyRequest
from shared.contracts import Actor, Channel, MessageRouted, to_cloudevent
from shared.contracts.outbound import ContactPreferencesChanged, ReplyChannel, identifier_id
from shared.envelope import source_urn
from shared.http import ProblemError

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ROUTER = source_urn("00000000000000000000", "eenloket-router")


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with async_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


async def held(
    s: AsyncSession, party: uuid.UUID, kind: str, value: str, trust: str, n: int
) -> None:
    await s.execute(
        party_identifiers.insert().values(
            party_id=party,
            kind=kind,
            value=value,
            trust=trust,
            added_at=NOW + timedelta(minutes=n),
        )
    )


async def wrote(
    s: AsyncSession, party: uuid.UUID, case: uuid.UUID, channel: Channel, n: int
) -> None:
    at = NOW + timedelta(hours=n)
    await s.execute(
        timeline_entries.insert().values(
            event_id=uuid.uuid4(),
            party_id=party,
            sequence=n,
            sort_at=at,
            case_id=case,
            message_id=uuid.uuid4(),
            type=MessageRouted.TYPE,
            channel=channel.value,
            occurred_at=at,
            body={},
        )
    )


async def prefer(
    s: AsyncSession, party: uuid.UUID, preferred: ReplyChannel | None, *out: ReplyChannel
) -> None:
    e = ContactPreferencesChanged(
        party_id=party,
        preferred_channel=preferred,
        opted_out=list(out),
        reason="Inwoner belde",
        by=Actor(user="kcc-1", team="kcc"),
        at=NOW,
    )
    await project(s, to_cloudevent(e, source=ROUTER, subject=party))


def ask(**fields: object) -> ReplyRequest:
    return ReplyRequest.model_validate({"text": "Uw paspoort ligt klaar.", **fields})


def detail(exc: pytest.ExceptionInfo[ProblemError]) -> str:
    assert exc.value.problem.status == 422
    return str(exc.value.problem.detail)


async def test_the_last_message_then_the_preferred_channel_then_a_422(
    session: AsyncSession,
) -> None:
    s, party, case = session, uuid.uuid4(), uuid.uuid4()
    await held(s, party, "email", "oud@example.nl", "verified", 1)
    await held(s, party, "email", "nieuw@example.nl", "verified", 2)
    await held(s, party, "email", "getypt@example.nl", "claimed", 3)
    await held(s, party, "phone", "+31612345678", "verified", 4)
    await held(s, party, "postal_address", "Stationsstraat 1, Tilburg", "authenticated", 5)

    with pytest.raises(ProblemError) as refused:
        await choose(s, party, case, ask())
    assert "kies een kanaal en adres" in detail(refused)

    # Only the preference: a letter to the postal address.
    await prefer(s, party, ReplyChannel.LETTER)
    r = await choose(s, party, case, ask())
    assert (r.channel, r.chosen_because, r.kind) == (
        ReplyChannel.LETTER,
        "preferred-channel",
        "postal_address",
    )
    assert (await preferences.read(s, party)) is not None

    # A web form, then a phone call: the last one counts (SMS to the number).
    await wrote(s, party, case, Channel.WEB, 1)
    r = await choose(s, party, case, ask())
    assert (r.channel, r.chosen_because) == (ReplyChannel.EMAIL, "last-message")
    # The strongest address of the kind, the newest of those.
    assert r.identifier_id == identifier_id(party, "email", "nieuw@example.nl")
    await wrote(s, party, case, Channel.PHONE, 2)
    r = await choose(s, party, case, ask())
    assert (r.channel, r.identifier_id) == (
        ReplyChannel.SMS,
        identifier_id(party, "phone", "+31612345678"),
    )
    # A counter visit has no reply channel: the message before it counts.
    await wrote(s, party, case, Channel.COUNTER, 3)
    assert (await choose(s, party, case, ask())).channel == ReplyChannel.SMS

    # SMS opted out: the last message's channel is skipped for the preferred one.
    await prefer(s, party, ReplyChannel.LETTER, ReplyChannel.SMS)
    r = await choose(s, party, case, ask())
    assert (r.channel, r.chosen_because) == (ReplyChannel.LETTER, "preferred-channel")


async def test_named_recipients_and_opted_out_channels(session: AsyncSession) -> None:
    s, party, case = session, uuid.uuid4(), uuid.uuid4()
    await held(s, party, "email", "a@example.nl", "verified", 1)
    await held(s, party, "phone", "+31612345678", "claimed", 2)
    phone = identifier_id(party, "phone", "+31612345678")
    # The identifier alone: its channel follows from its kind.
    r = await choose(s, party, case, ask(identifier_id=str(phone)))
    assert (r.channel, r.chosen_because, r.trust) == (ReplyChannel.SMS, "requested", "claimed")
    # The channel alone: the party's address for it.
    r = await choose(s, party, case, ask(channel="email"))
    assert r.identifier_id == identifier_id(party, "email", "a@example.nl")
    with pytest.raises(ProblemError) as refused:
        await choose(s, party, case, ask(channel="letter"))
    assert "geen adres voor het kanaal 'letter'" in detail(refused)
    with pytest.raises(ProblemError) as refused:
        await choose(s, party, case, ask(identifier_id=str(phone), channel="email"))
    assert "past niet bij dit adres" in detail(refused)

    await prefer(s, party, None, ReplyChannel.SMS, ReplyChannel.EMAIL)
    for named in ({"identifier_id": str(phone)}, {"channel": "email"}):
        with pytest.raises(ProblemError) as refused:
            await choose(s, party, case, ask(**named))
        assert "afgemeld" in detail(refused)
    # Nothing left to choose: the 422 asks staff to choose.
    await wrote(s, party, case, Channel.EMAIL, 1)
    with pytest.raises(ProblemError) as refused:
        await choose(s, party, case, ask())
    assert "kies een kanaal en adres" in detail(refused)
