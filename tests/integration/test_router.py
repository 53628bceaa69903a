"""The router on a real broker and real PostgreSQL: identity, routing, commands, exactly-once
effects, replay, two replicas racing on the same parties, poison records."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select, update

from services.router import orm
from services.router.bootstrap import create_app
from shared.contracts import (
    Actor,
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    MessageReceived,
    SenderIdentifier,
    Trust,
    to_cloudevent,
)
from shared.contracts import commands as c
from shared.contracts.base import Event
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from tests.apps import serve
from tests.support import assignment, eventually, read_topic, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

INGEST = source_urn("00000000000000000000", "eenloket-ingest")
CASEVIEW = source_urn("00000000000000000000", "eenloket-caseview")
CLERK = Actor(user="medewerker-1", team="kcc")


def bsn() -> str:
    """A random BSN that passes the 11-proef."""
    import random

    while True:
        digits = [random.randint(0, 9) for _ in range(8)]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        last = total % 11
        if last < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(last)


def message(*sender, channel=Channel.WEB, text="Vraag", product=None, refs=(), case_number=None):
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=channel,
        received_at=datetime.now(UTC),
        sender=[
            SenderIdentifier(kind=k, value=v, trust=t, evidence=(e or [None])[0])
            for k, v, t, *e in sender
        ],
        subject=text[:40],
        text=text,
        product_hint=product,
        thread_refs=list(refs),
        case_number_hint=case_number,
    )


@pytest.fixture
async def producer(kafka_bootstrap) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(kafka_bootstrap, "test")
    await p.start()
    yield p
    await p.stop()


@contextlib.asynccontextmanager
async def router(kafka_bootstrap, url, topics, group=None, consumers=1):
    group = group or f"router-{uuid.uuid4().hex[:8]}"
    settings = router_settings(kafka_bootstrap, url, topics, group, consumers=consumers)
    async with serve(create_app(settings)) as client:
        yield client


async def send(producer, topic, m: InboundMessage, key: bytes | None = None) -> None:
    event = to_cloudevent(
        MessageReceived(message=m), source=INGEST, subject=m.message_id, event_id=m.message_id
    )
    await producer.send_and_wait(topic, event.to_json(), key=key or str(m.message_id).encode())


async def command(producer, topic, cmd: Event, key: uuid.UUID) -> uuid.UUID:
    event = to_cloudevent(cmd, source=CASEVIEW, subject=key)
    await producer.send_and_wait(topic, event.to_json(), key=str(key).encode())
    return event.id


async def timeline(kafka_bootstrap, topic, expect, timeout=30.0) -> list[CloudEvent]:
    records = await read_topic(kafka_bootstrap, topic, expect=expect, timeout=timeout)
    return [CloudEvent.from_json(r.value) for r in records]


def of_type(events, suffix):
    return [e for e in events if e.type == f"nl.eenloket.{suffix}"]


async def test_identity_routing_and_the_quoted_bsn(kafka_bootstrap, db_urls, topics, producer):
    fatima = bsn()
    applied = message(
        (IdentifierKind.BSN, fatima, Trust.AUTHENTICATED),
        text="Ik wil bijstand aanvragen",
        product="bijstand",
    )
    # Somebody else mails, quoting her BSN: must not reach her history.
    stranger = message(
        (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:6]}@example.org", Trust.CLAIMED),
        (IdentifierKind.BSN, fatima, Trust.CLAIMED),
        channel=Channel.EMAIL,
        text=f"Graag informatie over de uitkering van BSN {fatima}",
    )
    async with router(kafka_bootstrap, db_urls["router"], topics):
        await send(producer, topics.inbound, applied)
        first = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        await send(producer, topics.inbound, stranger)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=7)

    her = first[0].subject
    (opened,) = [e for e in of_type(events, "case.opened") if e.subject == her]
    assert opened.data["owner_team"] == "werk-en-inkomen"
    assert opened.data["confidential"] is True
    assert opened.data["case_number"].startswith(f"ZAAK-{datetime.now(UTC).year}-")
    assert opened.data["due_at"] > opened.data["opened_at"]
    routed = {e.data["message_id"]: e for e in of_type(events, "message.routed")}
    assert routed[str(applied.message_id)].subject == her
    stranger_party = routed[str(stranger.message_id)].subject
    assert stranger_party != her, "the quoted BSN must not link to her"
    assert routed[str(applied.message_id)].data["explanation"]["owner_rule"] == "product:bijstand"
    (suggested,) = of_type(events, "party.link-suggested")
    assert suggested.subject == stranger_party
    assert suggested.data["suggested_party_id"] == her
    # Per-party sequence numbers count up from 1 without gaps.
    for party in {e.subject for e in events}:
        assert [e.sequence for e in events if e.subject == party] == list(
            range(1, 1 + sum(e.subject == party for e in events))
        )


async def test_follow_ups_join_the_case_by_thread_number_and_product(
    kafka_bootstrap, db_urls, topics, producer
):
    address = f"{uuid.uuid4().hex[:8]}@example.nl"
    # Mail from a domain that passed DMARC at the trusted gateway: the same sender each time.
    sender = (IdentifierKind.EMAIL, address, Trust.CLAIMED, Evidence.DMARC)
    a1, a2 = f"email:{uuid.uuid4()}@mail.example.nl", f"email:{uuid.uuid4()}@mail.example.nl"
    first = message(sender, channel=Channel.EMAIL, text="Wij organiseren een festival", refs=[a1])
    reply = message(sender, channel=Channel.EMAIL, text="Aanvulling", refs=[a2, a1])
    unrelated = message(sender, channel=Channel.EMAIL, text="Mijn paspoort is verlopen")
    async with router(kafka_bootstrap, db_urls["router"], topics):
        for m in (first, reply, unrelated):
            await send(producer, topics.inbound, m, key=b"same-sender")
        events = await timeline(kafka_bootstrap, topics.timeline, expect=6)
        number = of_type(events, "case.opened")[0].data["case_number"]
        quoting = message(sender, channel=Channel.EMAIL, text=f"Over zaak {number}: de datum")
        await send(producer, topics.inbound, quoting, key=b"same-sender")
        events = await timeline(kafka_bootstrap, topics.timeline, expect=7)
    routed = {e.data["message_id"]: e.data for e in of_type(events, "message.routed")}
    assert routed[str(reply.message_id)]["explanation"]["case_rule"] == "thread"
    assert routed[str(reply.message_id)]["case_number"] == number
    assert routed[str(unrelated.message_id)]["case_number"] != number
    assert routed[str(unrelated.message_id)]["owner_team"] == "burgerzaken"
    assert routed[str(quoting.message_id)]["explanation"]["case_rule"] == "case-number"
    assert routed[str(quoting.message_id)]["case_number"] == number


async def test_staff_commands_and_rejections(kafka_bootstrap, db_urls, topics, producer):
    m = message((IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED), text="Goedemiddag, een vraag")
    async with router(kafka_bootstrap, db_urls["router"], topics):
        await send(producer, topics.inbound, m)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        case_id = uuid.UUID(of_type(events, "case.opened")[0].data["case_id"])
        assert of_type(events, "case.opened")[0].data["owner_team"] == "kcc"  # no match: KCC
        steps = [
            c.HandOverCase(
                case_id=case_id,
                from_team="kcc",
                to_team="werk-en-inkomen",
                reason="Vraag over bijstand",
                by=CLERK,
            ),
            c.HandOverCase(
                case_id=case_id, from_team="kcc", to_team="zorg", reason="stale owner", by=CLERK
            ),
            c.AddParticipant(case_id=case_id, team="schuldhulp", reason="schulden", by=CLERK),
            c.AddParticipant(case_id=case_id, team="bestaat-niet", by=CLERK),
            c.ChangeStatus(case_id=case_id, status="wacht op inwoner", by=CLERK),
            c.AddNote(case_id=case_id, text="Gebeld, stukken volgen", by=CLERK),
            c.CloseCase(case_id=case_id, result="Toegekend", by=CLERK),
            c.AddParticipant(case_id=case_id, team="zorg", by=CLERK),
            c.CloseCase(case_id=uuid.uuid4(), result="?", by=CLERK),
        ]
        ids = [await command(producer, topics.commands, step, case_id) for step in steps]
        events = await timeline(kafka_bootstrap, topics.timeline, expect=4 + len(steps))
    outcome = {}
    for e in events:
        if e.type == "nl.eenloket.command.rejected":
            outcome[e.data["command_id"]] = "rejected: " + e.data["reason"]
    rejected = [outcome.get(str(i), "ok") for i in ids]
    assert rejected[0] == "ok"
    assert rejected[1] == "rejected: case is owned by 'werk-en-inkomen', not 'kcc'"
    assert rejected[3] == "rejected: team 'bestaat-niet' does not exist"
    assert rejected[7].startswith("rejected: case ZAAK-") and rejected[7].endswith("is closed")
    assert rejected[8] == "rejected: unknown case"
    (handover,) = of_type(events, "case.handed-over")
    assert handover.data["handover_count"] == 1
    assert handover.data["reason"] == "Vraag over bijstand"
    assert [
        e.type.split(".")[-1] for e in events[3:] if e.type != "nl.eenloket.command.rejected"
    ] == [
        "handed-over",
        "classified",  # handed over to a social-domain team: now confidential
        "participant-added",
        "status-changed",
        "note-added",
        "closed",
    ]


async def test_exactly_once_effects_across_replay_from_offset_zero(
    kafka_bootstrap, pg_urls, topics, producer
):
    group = f"router-{uuid.uuid4().hex[:8]}"
    messages = [
        message((IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED), text="Paspoort")
        for _ in range(10)
    ]
    async with router(kafka_bootstrap, pg_urls["router"], topics, group):
        for m in messages:
            await send(producer, topics.inbound, m)
        await timeline(kafka_bootstrap, topics.timeline, expect=30)
    engine = create_engine(pg_urls["router"])
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        await s.execute(
            update(orm.consumer_offsets)
            .where(orm.consumer_offsets.c.consumer_group == group)
            .values(next_offset=0)
        )
    async with router(kafka_bootstrap, pg_urls["router"], topics, group):

        async def replayed():
            async with sessions() as s:
                total = await s.scalar(
                    select(func.sum(orm.consumer_offsets.c.next_offset)).where(
                        orm.consumer_offsets.c.consumer_group == group,
                        orm.consumer_offsets.c.topic == topics.inbound,
                    )
                )
            return total == len(messages)

        await eventually(replayed)
    records = await read_topic(kafka_bootstrap, topics.timeline, expect=30, timeout=5)
    async with sessions() as s:
        cases = await s.scalar(
            select(func.count())
            .select_from(orm.outbox)
            .where(
                orm.outbox.c.topic == topics.timeline,
                orm.outbox.c.type == "nl.eenloket.case.opened",
            )
        )
    await engine.dispose()
    # The relay publishes at least once: a router stopped between Kafka's acknowledgement
    # and marking the rows sent publishes them again (same event ids). New events are what
    # must not appear.
    event_ids = {CloudEvent.from_json(r.value).id for r in records}
    assert len(event_ids) == 30, "the replay published nothing new"
    assert cases == 10


@pytest.mark.parametrize("shape", ["two processes", "one process, two consumers"])
async def test_two_routers_racing_on_the_same_parties_create_one_party_and_one_case(
    shape, kafka_bootstrap, pg_urls, topics, producer
):
    """Each person writes on three channels at once; the records carry different keys, so
    they land on different partitions and are handled by different replicas — or by two
    consumers of one process (``EENLOKET_CONSUMERS``), whose transactions interleave on one
    event loop."""
    people = [bsn() for _ in range(12)]
    group = f"router-{uuid.uuid4().hex[:8]}"
    if shape == "two processes":
        routers = [router(kafka_bootstrap, pg_urls["router"], topics, group) for _ in range(2)]
    else:
        routers = [router(kafka_bootstrap, pg_urls["router"], topics, group, consumers=2)]
    async with contextlib.AsyncExitStack() as stack:
        for r in routers:
            await stack.enter_async_context(r)
        sends = [
            send(
                producer,
                topics.inbound,
                message(
                    (IdentifierKind.BSN, person, Trust.AUTHENTICATED),
                    channel=channel,
                    text="Vraag over mijn paspoort",
                ),
                key=f"{person}-{channel}".encode(),
            )
            for person in people
            for channel in (Channel.WEB, Channel.APP, Channel.COUNTER)
        ]
        await asyncio.gather(*sends)
        events = await timeline(
            kafka_bootstrap, topics.timeline, expect=len(people) * 5, timeout=90
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            members = await assignment(admin, group)
        finally:
            await admin.close()
    assert len(members) == 2 and all(members), "two members, each with partitions"
    assert len(of_type(events, "party.created")) == len(people)
    assert len(of_type(events, "case.opened")) == len(people)
    assert len(of_type(events, "message.routed")) == len(people) * 3
    numbers = [e.data["case_number"] for e in of_type(events, "case.opened")]
    assert len(set(numbers)) == len(numbers)


async def test_poison_goes_to_the_dead_letter_topic_and_the_rest_flows(
    kafka_bootstrap, pg_urls, topics, producer
):
    bad_type = CloudEvent(
        source=INGEST, type="nl.eenloket.something.unknown", subject=str(uuid.uuid4()), data={}
    )
    bad_data = CloudEvent(
        source=INGEST, type=MessageReceived.TYPE, subject=str(uuid.uuid4()), data={"message": {}}
    )
    good = message((IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED), text="Kliko kapot")
    async with router(kafka_bootstrap, pg_urls["router"], topics):
        await producer.send_and_wait(topics.inbound, bad_type.to_json(), key=b"k")
        await producer.send_and_wait(topics.inbound, b"\x00\x01 not json", key=b"k")
        await producer.send_and_wait(topics.inbound, bad_data.to_json(), key=b"k")
        await send(producer, topics.inbound, good, key=b"k")
        events = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        dead = await read_topic(kafka_bootstrap, topics.deadletter, expect=3)
    assert of_type(events, "message.routed")[0].data["message_id"] == str(good.message_id)
    reasons = sorted(dict(r.headers)["dlt.error.type"].decode() for r in dead)
    assert reasons == ["JSONDecodeError", "UnknownEventTypeError", "ValidationError"]


async def test_gauges_count_open_and_overdue_cases_and_pending_links(
    kafka_bootstrap, pg_urls, topics, producer
):
    from services.router import gauges
    from shared.outbox import OutboxRelay

    person = bsn()
    claimed = message(
        (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:8]}@example.org", Trust.CLAIMED),
        (IdentifierKind.BSN, person, Trust.CLAIMED),
        text="Vraag over mijn paspoort",
    )
    async with router(kafka_bootstrap, pg_urls["router"], topics):
        await send(
            producer,
            topics.inbound,
            message((IdentifierKind.BSN, person, Trust.AUTHENTICATED), text="Paspoort verlopen"),
        )
        await timeline(kafka_bootstrap, topics.timeline, expect=3)
        await send(producer, topics.inbound, claimed)
        await timeline(kafka_bootstrap, topics.timeline, expect=7)
    engine = create_engine(pg_urls["router"])
    snapshot = await gauges.refresh(
        session_factory(engine),
        OutboxRelay(sessions=session_factory(engine), table=orm.outbox, producer=producer),
    )
    await engine.dispose()
    assert snapshot is not None
    assert snapshot.open_cases["burgerzaken"] >= 2
    assert snapshot.pending_links >= 1
    exposed = {
        (s.name, s.labels.get("team")): s.value for m in gauges.SYSTEM.collect() for s in m.samples
    }
    assert exposed[("eenloket_router_open_cases", "burgerzaken")] >= 2
    assert exposed[("eenloket_router_suggested_links_pending", None)] >= 1


async def test_confirming_a_link_folds_the_stray_case_into_the_quoted_one(
    kafka_bootstrap, db_urls, topics, producer
):
    """An unknown address quotes the resident's case number: a provisional party and a
    stray case (never her history). Once staff confirm it is her, the contact moves into
    the quoted case and the stray case is closed as merged."""
    person = bsn()
    applied = message(
        (IdentifierKind.BSN, person, Trust.AUTHENTICATED),
        text="Aanvraag bijstand",
        product="bijstand",
    )
    async with router(kafka_bootstrap, db_urls["router"], topics):
        await send(producer, topics.inbound, applied)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=3)
        number = of_type(events, "case.opened")[0].data["case_number"]
        her_case = of_type(events, "case.opened")[0].data["case_id"]
        mail = message(
            (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:8]}@example.org", Trust.CLAIMED),
            channel=Channel.EMAIL,
            text=f"Vraag over {number}",
        )
        await send(producer, topics.inbound, mail)
        events = await timeline(kafka_bootstrap, topics.timeline, expect=7)
        (suggested,) = of_type(events, "party.link-suggested")
        await command(
            producer,
            topics.commands,
            c.DecideLink(
                suggestion_id=uuid.UUID(suggested.data["suggestion_id"]),
                confirm=True,
                reason="Zelfde persoon",
                by=CLERK,
            ),
            uuid.UUID(suggested.subject or ""),
        )
        events = await timeline(kafka_bootstrap, topics.timeline, expect=10)
    routed = {e.data["message_id"]: e.data for e in of_type(events, "message.routed")}
    assert routed[str(mail.message_id)]["case_id"] != her_case  # at first: not her case
    (merged,) = of_type(events, "case.merged")
    assert merged.data["into_case_id"] == her_case
    assert merged.data["message_ids"] == [str(mail.message_id)]
    assert merged.data["reason"].startswith(f"samengevoegd met {number}")
