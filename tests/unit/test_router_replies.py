"""``SendReply`` on the in-memory store (issue #17): every refusal, the three effects of a
reply carried out (``reply.requested`` on the timeline, the ``reply:<token>`` thread, the
``reply.deliver`` send request on the outbound topic), e-mail threading, and the statuses the
outbound service reports recorded on the timeline."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from services.router.commands.replies import MAX_REFERENCES, record_status
from services.router.config import RouterSettings
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    SenderIdentifier,
    Trust,
    to_cloudevent,
)
from shared.contracts import commands as c
from shared.contracts.outbound import (
    ReplyChannel,
    ReplyStatus,
    ReplyStatusReported,
    identifier_id,
    reply_token,
)
from shared.envelope import source_urn
from tests.fakes.router_inbound import NOW, bsn, digid, email, message, route, routed_data
from tests.fakes.router_store import FakeRouterStore
from tests.unit.test_router_commands import CLERK, CTX, rejected, run

OUTBOUND = source_urn("00000000000000000000", "eenloket-outbound")


def sent_from(address: str) -> SenderIdentifier:
    """An e-mail address the message provably came from (DMARC): a provisional party."""
    return SenderIdentifier(
        kind=IdentifierKind.EMAIL, value=address, trust=Trust.CLAIMED, evidence=Evidence.DMARC
    )


async def emailed(
    store: FakeRouterStore, address: str, n: int
) -> tuple[uuid.UUID, uuid.UUID, list[str]]:
    """``n`` e-mails from ``address``, each replying to the one before: (party, case, their
    Message-IDs in the order they arrived)."""
    ids: list[str] = []
    party_id = case_id = None
    for i in range(n):
        own = f"{uuid.uuid4()}@mail.example.nl"
        refs = (f"email:{own}", *(f"email:{p}" for p in reversed(ids)))
        msg = message(sent_from(address), channel=Channel.EMAIL, refs=refs, text="Mijn paspoort")
        msg = msg.model_copy(
            update={"channel_message_id": own, "received_at": NOW + timedelta(minutes=i)}
        )
        (routed,) = await route(store, msg, now=NOW + timedelta(minutes=i))
        data = routed_data(routed)
        party_id, case_id = uuid.UUID(data["party_id"]), uuid.UUID(data["case_id"])
        ids.append(own)
    assert party_id is not None and case_id is not None
    return party_id, case_id, ids


def reply(case_id: uuid.UUID, recipient: uuid.UUID, **overrides: Any) -> c.SendReply:
    fields: dict[str, Any] = {
        "reply_id": uuid.uuid4(),
        "case_id": case_id,
        "identifier_id": recipient,
        "channel": ReplyChannel.EMAIL,
        "subject": "Uw paspoort",
        "text": "Beste inwoner, uw paspoort ligt klaar.",
        "template": "paspoort-klaar",
        "by": CLERK,
    }
    return c.SendReply(**(fields | overrides))


async def test_a_reply_is_requested_threaded_and_sent_to_the_outbound_topic() -> None:
    store = FakeRouterStore()
    address = email()
    party_id, case_id, ids = await emailed(store, address, 3)
    recipient = identifier_id(party_id, IdentifierKind.EMAIL, address)
    command = reply(case_id, recipient, confirm_claimed=True)
    before = len(store.t.outbox)
    events = await run(store, command)
    assert [k for k, _ in events] == ["reply.requested", "reply.deliver"]
    timeline, outbound = store.t.outbox[before:]
    # The request is the party's history (numbered), the send request is keyed by reply id.
    assert (timeline["topic"], timeline["aggregateid"]) == ("omni.timeline.v1", str(party_id))
    assert timeline["payload"]["sequence"] == store.t.parties[party_id]["version"]
    assert (outbound["topic"], outbound["aggregateid"]) == (
        CTX.outbound_topic,
        str(command.reply_id),
    )
    assert "sequence" not in outbound["payload"]
    requested, deliver = events[0][1], events[1][1]
    assert (requested["reply_id"], requested["party_id"], requested["recipient_trust"]) == (
        str(command.reply_id),
        str(party_id),
        "claimed",
    )
    assert requested["text"] == command.text and requested["notice_only"] is False
    token = reply_token(CTX.reply_token_key, command.reply_id)
    case_number = store.t.cases[case_id]["number"]
    assert (deliver["address"], deliver["case_number"], deliver["token"]) == (
        address,
        case_number,
        token,
    )
    # Threading: the resident's last e-mail, and all of them, last first.
    assert deliver["in_reply_to"] == ids[-1]
    assert deliver["references"] == ids[::-1]
    # The answer to the reply's token lands on the case.
    assert store.t.thread_refs[f"reply:{token}"] == case_id
    assert store.t.replies[command.reply_id]["case_id"] == case_id
    # The same reply again (a new command id) is refused; nothing else changes.
    assert rejected(await run(store, command)) == "dit antwoord is al aangevraagd"


async def test_references_are_cut_to_the_last_ten() -> None:
    store = FakeRouterStore()
    address = email()
    party_id, case_id, ids = await emailed(store, address, MAX_REFERENCES + 2)
    recipient = identifier_id(party_id, IdentifierKind.EMAIL, address)
    events = await run(store, reply(case_id, recipient, confirm_claimed=True))
    deliver = events[1][1]
    assert deliver["references"] == ids[::-1][:MAX_REFERENCES]
    assert deliver["in_reply_to"] == ids[-1]


async def test_a_reply_on_another_channel_has_no_threading() -> None:
    store = FakeRouterStore()
    number = bsn()
    (routed,) = await route(store, message(digid(number), text="Mijn paspoort is verlopen"))
    data = routed_data(routed)
    party_id, case_id = uuid.UUID(data["party_id"]), uuid.UUID(data["case_id"])
    recipient = identifier_id(party_id, IdentifierKind.BSN, number)
    events = await run(store, reply(case_id, recipient, channel=ReplyChannel.APP, subject=None))
    deliver = events[1][1]
    assert (deliver["channel"], deliver["address"]) == ("app", number)
    assert (deliver["in_reply_to"], deliver["references"]) == (None, [])
    assert events[0][1]["recipient_trust"] == "authenticated"


async def test_every_refusal_changes_nothing() -> None:
    store = FakeRouterStore()
    address = email()
    party_id, case_id, _ = await emailed(store, address, 1)
    recipient = identifier_id(party_id, IdentifierKind.EMAIL, address)
    refs_before, outbox_before = dict(store.t.thread_refs), len(store.t.outbox)

    async def refused(command: c.SendReply) -> str:
        reason = rejected(await run(store, command))
        assert store.t.replies == {} and store.t.thread_refs == refs_before
        return reason

    assert await refused(reply(uuid.uuid4(), recipient)) == "onbekende zaak"
    assert (
        await refused(reply(case_id, uuid.uuid4(), confirm_claimed=True))
        == "de ontvanger is geen gegeven van de partij van deze zaak"
    )
    # Another party's address is not this party's, even with its value.
    assert (
        await refused(reply(case_id, identifier_id(uuid.uuid4(), "email", address)))
        == "de ontvanger is geen gegeven van de partij van deze zaak"
    )
    assert await refused(
        reply(case_id, recipient, channel=ReplyChannel.SMS, confirm_claimed=True)
    ) == ("kanaal 'sms' verstuurt naar een gegeven van soort 'phone', niet 'email'")
    assert await refused(reply(case_id, recipient)) == (
        "het adres is alleen door de inwoner opgegeven, niet geverifieerd: "
        "bevestig dat u ernaar wilt versturen"
    )
    assert (
        await refused(reply(case_id, recipient, confirm_claimed=True, subject="a\r\nBcc: x@y.nl"))
        == "het onderwerp mag geen regeleinde bevatten"
    )
    await store.classify_cases({case_id: ("Schuldhulpverlening", True)})
    assert await refused(reply(case_id, recipient, confirm_claimed=True)) == (
        "vertrouwelijke zaak: alleen een bericht zonder inhoud naar een niet-geverifieerd adres"
    )
    # Every refusal a command.rejected on the party's history, nothing sent.
    assert all(r["topic"] == "omni.timeline.v1" for r in store.t.outbox[outbox_before:])
    # The contents-free notice may go; to a verified address, the contents too.
    notice = reply(case_id, recipient, confirm_claimed=True, notice_only=True)
    assert [k for k, _ in await run(store, notice)] == ["reply.requested", "reply.deliver"]
    await store.verify_identifier(party_id, IdentifierKind.EMAIL, address, NOW)
    assert [k for k, _ in await run(store, reply(case_id, recipient))] == [
        "reply.requested",
        "reply.deliver",
    ]


async def test_after_a_merge_the_survivor_answers_through_the_merged_partys_address() -> None:
    store = FakeRouterStore()
    address = email()
    merged, case_id, _ = await emailed(store, address, 1)
    (routed,) = await route(store, message(digid(bsn()), text="Mijn rijbewijs"))
    survivor = uuid.UUID(routed_data(routed)["party_id"])
    merge = c.MergeParties(party_id=survivor, merged_party_id=merged, reason="dezelfde", by=CLERK)
    assert "command.rejected" not in [k for k, _ in await run(store, merge)]
    final = await store.final_case(case_id)
    for recipient in (
        identifier_id(merged, IdentifierKind.EMAIL, address),
        identifier_id(survivor, IdentifierKind.EMAIL, address),
    ):
        events = await run(store, reply(case_id, recipient, confirm_claimed=True))
        assert [k for k, _ in events] == ["reply.requested", "reply.deliver"]
        assert events[0][1]["party_id"] == str(survivor)
        assert events[0][1]["case_id"] == str(final)


async def status(
    store: FakeRouterStore, reply_id: uuid.UUID, to: ReplyStatus
) -> list[dict[str, Any]]:
    """A status the outbound service reported, recorded; the outbox rows it wrote."""
    report = ReplyStatusReported(
        reply_id=reply_id,
        case_id=uuid.uuid4(),  # the router goes by its own record of the reply
        party_id=uuid.uuid4(),
        channel=ReplyChannel.EMAIL,
        status=to,
        reason="550 mailbox unavailable" if to == ReplyStatus.BOUNCED else None,
        reference=f"<{reply_id}@gemeente.example.nl>",
        at=NOW,
    )
    before = len(store.t.outbox)
    await record_status(store, to_cloudevent(report, source=OUTBOUND, subject=reply_id), CTX, NOW)
    return store.t.outbox[before:]


async def test_reported_statuses_are_recorded_on_the_partys_timeline() -> None:
    store = FakeRouterStore()
    address = email()
    party_id, case_id, _ = await emailed(store, address, 1)
    recipient = identifier_id(party_id, IdentifierKind.EMAIL, address)
    command = reply(case_id, recipient, confirm_claimed=True)
    await run(store, command)
    for to in (ReplyStatus.SENT, ReplyStatus.BOUNCED):
        (row,) = await status(store, command.reply_id, to)
        assert (row["type"], row["topic"], row["aggregateid"]) == (
            "nl.eenloket.reply.status-changed",
            "omni.timeline.v1",
            str(party_id),
        )
        data = row["payload"]["data"]
        assert (data["status"], data["case_id"], data["party_id"]) == (
            to.value,
            str(case_id),
            str(party_id),
        )
        assert row["payload"]["sequence"] == store.t.parties[party_id]["version"]
    assert data["reason"] == "550 mailbox unavailable"
    # A status of a reply this router never asked for: skipped, not a failure.
    assert await status(store, uuid.uuid4(), ReplyStatus.SENT) == []


def test_production_refuses_the_placeholder_reply_token_key() -> None:
    oin = "00000001234567890000"
    with pytest.raises(ValueError, match="EENLOKET_REPLY_TOKEN_KEY"):
        RouterSettings(environment="production", oin=oin)
    key = SecretStr("a-long-random-key-for-reply-tokens")
    assert RouterSettings(environment="production", oin=oin, reply_token_key=key)
