"""Replies through the router on a real broker and database (issue #17): a resident's e-mail
routed, ``SendReply`` on the commands topic → ``reply.requested`` on the timeline and the
threaded send request on the outbound topic; a status on the status topic → the history; the
resident's answer carrying the reply's token joins the same case, whatever its From says."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    Trust,
    to_cloudevent,
)
from shared.contracts.outbound import (
    ReplyChannel,
    ReplyStatus,
    ReplyStatusReported,
    SendReply,
    identifier_id,
    reply_token,
)
from shared.envelope import CloudEvent, source_urn
from shared.settings import PLACEHOLDER_SECRET
from tests.conftest import Topics
from tests.integration.test_router import (
    CLERK,
    command,
    message,
    of_type,
    producer,  # noqa: F401 - the fixture
    router,
    send,
)
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

OUTBOUND = source_urn("00000000000000000000", "eenloket-outbound")


async def until(
    bootstrap: str, topic: str, done: Callable[[list[CloudEvent]], bool], timeout: float = 60.0
) -> list[CloudEvent]:
    """The topic's events from the beginning, read again until ``done`` holds for them."""

    async def probe() -> list[CloudEvent] | None:
        records = await read_topic(bootstrap, topic, expect=1, timeout=timeout)
        events = [CloudEvent.from_json(r.value) for r in records]
        return events if done(events) else None

    return await eventually(probe, timeout=timeout)


def has(suffix: str, count: int = 1) -> Callable[[list[CloudEvent]], bool]:
    return lambda events: len(of_type(events, suffix)) >= count


async def routed_to(
    bootstrap: str, kafka: AIOKafkaProducer, t: Topics, mail: InboundMessage
) -> tuple[uuid.UUID, uuid.UUID]:
    """``mail`` sent and routed: (party, case)."""
    await send(kafka, t.inbound, mail)
    events = await until(bootstrap, t.timeline, has("message.routed"))
    data = of_type(events, "message.routed")[0].data
    return uuid.UUID(data["party_id"]), uuid.UUID(data["case_id"])


def email_reply(case_id: uuid.UUID, party_id: uuid.UUID, address: str, **extra: Any) -> SendReply:
    return SendReply(
        reply_id=uuid.uuid4(),
        case_id=case_id,
        identifier_id=identifier_id(party_id, IdentifierKind.EMAIL, address),
        channel=ReplyChannel.EMAIL,
        subject="Uw paspoort",
        text="Beste inwoner, uw paspoort ligt klaar.",
        by=CLERK,
        **extra,
    )


async def report(kafka: AIOKafkaProducer, t: Topics, reply: SendReply, **fields: Any) -> None:
    """The outbound service's word on ``reply`` (``status``, ``reason``, ``reference``)."""
    status = ReplyStatusReported(
        reply_id=reply.reply_id,
        case_id=reply.case_id,
        party_id=uuid.uuid4(),  # the router goes by its own record of the reply
        channel=reply.channel,
        at=datetime.now(UTC),
        **fields,
    )
    event = to_cloudevent(status, source=OUTBOUND, subject=reply.reply_id)
    await kafka.send_and_wait(t.outbound_status, event.to_json(), key=str(reply.reply_id).encode())


async def test_a_reply_its_status_and_the_answer_on_the_same_case(
    kafka_bootstrap: str,
    db_urls: dict[str, str],
    topics: Topics,
    producer: AIOKafkaProducer,  # noqa: F811 - the fixture imported above
) -> None:
    t = topics
    address = f"{uuid.uuid4().hex[:10]}@example.nl"
    own_id = f"{uuid.uuid4()}@mail.example.nl"
    mail = message(
        (IdentifierKind.EMAIL, address, Trust.CLAIMED, Evidence.DMARC),
        channel=Channel.EMAIL,
        text="Wanneer is mijn paspoort klaar?",
        refs=(f"email:{own_id}",),
    ).model_copy(update={"channel_message_id": own_id})
    async with router(kafka_bootstrap, db_urls["router"], t):
        party_id, case_id = await routed_to(kafka_bootstrap, producer, t, mail)
        reply = email_reply(case_id, party_id, address, confirm_claimed=True)
        command_id = await command(producer, t.commands, reply, case_id)
        (deliver,) = await until(kafka_bootstrap, t.outbound, lambda e: len(e) >= 1)
        assert deliver.type == "nl.eenloket.reply.deliver"
        assert deliver.subject == str(reply.reply_id)
        token = reply_token(PLACEHOLDER_SECRET.encode(), reply.reply_id)
        assert (deliver.data["address"], deliver.data["token"]) == (address, token)
        assert deliver.data["in_reply_to"] == own_id
        assert deliver.data["references"] == [own_id]
        events = await until(kafka_bootstrap, t.timeline, has("reply.requested"))
        (requested,) = of_type(events, "reply.requested")
        assert (requested.subject, requested.data["case_id"]) == (str(party_id), str(case_id))
        assert (requested.model_extra or {}).get("causationid") == str(command_id)

        reference = f"<{reply.reply_id}@gemeente.example.nl>"
        await report(producer, t, reply, status=ReplyStatus.SENT, reference=reference)
        events = await until(kafka_bootstrap, t.timeline, has("reply.status-changed"))
        (changed,) = of_type(events, "reply.status-changed")
        assert (changed.subject, changed.data["status"]) == (str(party_id), "sent")
        assert (changed.sequence or 0) > (requested.sequence or 0)

        # The answer, from an address nobody knows (typed, claimed), to antwoord+<token>@…
        answer = message(
            (IdentifierKind.EMAIL, f"{uuid.uuid4().hex[:10]}@elders.example.org", Trust.CLAIMED),
            channel=Channel.EMAIL,
            text="Dank u, ik kom het morgen halen",
            refs=(f"email:{uuid.uuid4()}@elders", f"email:{reply.reply_id}@x", f"reply:{token}"),
        )
        await send(producer, t.inbound, answer)
        events = await until(kafka_bootstrap, t.timeline, has("message.routed", 2))
        joined = of_type(events, "message.routed")[1].data
        assert (joined["party_id"], joined["case_id"]) == (str(party_id), str(case_id))


async def test_a_bounced_email_falls_back_to_a_letter(
    kafka_bootstrap: str,
    db_urls: dict[str, str],
    topics: Topics,
    producer: AIOKafkaProducer,  # noqa: F811 - the fixture imported above
) -> None:
    """docs/outbound.md#fallback: the bounce recorded, a letter asked for in the same
    transaction (its own id, ``fallback_of`` the e-mail) to the verified postal address."""
    t = topics
    address = f"{uuid.uuid4().hex[:10]}@example.nl"
    postal = f"Stationsstraat {uuid.uuid4().int % 900 + 1}, 5038 EA Tilburg"
    # Imported from the old CRM: the addresses it verified stay verified.
    mail = message(
        (IdentifierKind.EMAIL, address, Trust.VERIFIED, Evidence.CRM_IMPORT),
        (IdentifierKind.POSTAL_ADDRESS, postal, Trust.VERIFIED, Evidence.CRM_IMPORT),
        channel=Channel.EMAIL,
        text="Wanneer is mijn paspoort klaar?",
        refs=(f"import:{uuid.uuid4()}",),
    )
    async with router(kafka_bootstrap, db_urls["router"], t):
        party_id, case_id = await routed_to(kafka_bootstrap, producer, t, mail)
        reply = email_reply(case_id, party_id, address)
        await command(producer, t.commands, reply, case_id)
        await until(kafka_bootstrap, t.outbound, lambda e: len(e) >= 1)
        await report(producer, t, reply, status=ReplyStatus.BOUNCED, reason="550 5.1.1 unknown")
        sent = await until(kafka_bootstrap, t.outbound, lambda e: len(e) >= 2)
        # Keyed by reply id: the two may be on different partitions, in any order.
        (letter,) = [e for e in sent if e.data["reply_id"] != str(reply.reply_id)]
        assert letter.data["fallback_of"] == str(reply.reply_id)
        assert (letter.data["channel"], letter.data["address"]) == ("letter", postal)
        assert letter.subject == letter.data["reply_id"] != str(reply.reply_id)
        events = await until(kafka_bootstrap, t.timeline, has("reply.requested", 2))
        (changed,) = of_type(events, "reply.status-changed")
        fallback = of_type(events, "reply.requested")[1]
        assert changed.data["status"] == "bounced"
        assert (fallback.sequence or 0) == (changed.sequence or 0) + 1
        assert fallback.data["fallback_of"] == str(reply.reply_id)
        assert fallback.data["recipient_trust"] == "verified"
