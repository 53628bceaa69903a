"""Contact preferences and the fallback rules on the in-memory store (issue #17,
docs/outbound.md#fallback): an opted-out channel is refused; a bounced e-mail goes again
as a letter, an ended chat by e-mail or SMS; never below the original's trust, never to a
claimed address, never on an opted-out channel, at most once."""

from __future__ import annotations

import uuid
from typing import Any

from services.router.commands.fallback import fallback_id
from services.router.commands.replies import record_status
from shared.contracts import IdentifierKind, SenderIdentifier, Trust, to_cloudevent
from shared.contracts import commands as c
from shared.contracts.outbound import (
    SESSION_ENDED,
    ReplyChannel,
    ReplyStatus,
    ReplyStatusReported,
    identifier_id,
)
from tests.fakes.router_inbound import NOW, email
from tests.fakes.router_store import FakeRouterStore
from tests.unit.test_router_commands import CLERK, CTX, rejected, run
from tests.unit.test_router_replies import OUTBOUND, emailed, reply

POSTAL = "Stationsstraat 1, 5038 EA Tilburg"


async def resident(store: FakeRouterStore, **extra: Trust) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A party with a case, its e-mail address verified, and ``extra`` identifiers
    (kind=trust; values made up): (party, case, e-mail address)."""
    address = email()
    party_id, case_id, _ = await emailed(store, address, 1)
    await store.verify_identifier(party_id, IdentifierKind.EMAIL, address, NOW)
    values = {"postal_address": POSTAL, "phone": "+31612345678", "chat": f"s-{uuid.uuid4()}"}
    items: list[tuple[uuid.UUID, SenderIdentifier, uuid.UUID | None]] = [
        (party_id, SenderIdentifier(kind=IdentifierKind(k), value=values[k], trust=t), None)
        for k, t in extra.items()
    ]
    await store.insert_identifiers(items, now=NOW)
    return party_id, case_id, address


def prefs(party_id: uuid.UUID, *opted_out: ReplyChannel, **kw: Any) -> c.SetContactPreferences:
    return c.SetContactPreferences(
        party_id=party_id, opted_out=list(opted_out), reason="Inwoner belde", by=CLERK, **kw
    )


async def report(
    store: FakeRouterStore,
    reply_id: uuid.UUID,
    to: ReplyStatus,
    channel: ReplyChannel = ReplyChannel.EMAIL,
    reason: str | None = "550 mailbox unavailable",
) -> list[tuple[str, dict[str, Any]]]:
    r = ReplyStatusReported(
        reply_id=reply_id,
        case_id=uuid.uuid4(),
        party_id=uuid.uuid4(),
        channel=channel,
        status=to,
        reason=reason,
        at=NOW,
    )
    before = len(store.t.outbox)
    await record_status(store, to_cloudevent(r, source=OUTBOUND, subject=reply_id), CTX, NOW)
    return [
        (row["type"].removeprefix("nl.eenloket."), row["payload"]["data"])
        for row in store.t.outbox[before:]
    ]


async def test_preferences_are_recorded_and_an_opted_out_channel_is_refused() -> None:
    store = FakeRouterStore()
    party_id, case_id, address = await resident(store)
    events = await run(store, prefs(party_id, ReplyChannel.EMAIL, preferred_channel="letter"))
    ((kind, data),) = events
    assert kind == "party.contact-preferences-changed"
    assert (data["party_id"], data["preferred_channel"], data["opted_out"]) == (
        str(party_id),
        "letter",
        ["email"],
    )
    assert store.t.outbox[-1]["aggregateid"] == str(party_id)
    # The same set again changes nothing; an unknown party is refused.
    assert rejected(
        await run(store, prefs(party_id, ReplyChannel.EMAIL, preferred_channel="letter"))
    ) == ("de contactvoorkeuren zijn al zo ingesteld")
    assert rejected(await run(store, prefs(uuid.uuid4()))) == "onbekende partij"
    # A preferred channel that is also opted out is not a valid command.
    raw = {
        "party_id": str(party_id),
        "preferred_channel": "sms",
        "opted_out": ["sms"],
        "reason": "x",
        "by": CLERK.model_dump(),
    }
    assert rejected(await run(store, raw, c.SetContactPreferences.TYPE)).startswith(
        "invalid command"
    )
    recipient = identifier_id(party_id, IdentifierKind.EMAIL, address)
    assert rejected(await run(store, reply(case_id, recipient))) == (
        "de inwoner heeft zich afgemeld voor berichten via 'email'"
    )
    assert store.t.replies == {}
    # Allowed again once the opt-out is lifted.
    await run(store, prefs(party_id))
    assert [k for k, _ in await run(store, reply(case_id, recipient))] == [
        "reply.requested",
        "reply.deliver",
    ]


async def test_a_bounced_email_goes_again_as_a_letter_once() -> None:
    store = FakeRouterStore()
    party_id, case_id, address = await resident(store, postal_address=Trust.VERIFIED)
    original = reply(case_id, identifier_id(party_id, IdentifierKind.EMAIL, address))
    await run(store, original)
    events = await report(store, original.reply_id, ReplyStatus.BOUNCED)
    assert [k for k, _ in events] == ["reply.status-changed", "reply.requested", "reply.deliver"]
    requested, deliver = events[1][1], events[2][1]
    new_id = fallback_id(original.reply_id)
    assert requested["reply_id"] == deliver["reply_id"] == str(new_id)
    assert requested["fallback_of"] == deliver["fallback_of"] == str(original.reply_id)
    assert (deliver["channel"], deliver["address"], deliver["text"]) == (
        "letter",
        POSTAL,
        original.text,
    )
    assert requested["identifier_id"] == str(
        identifier_id(party_id, IdentifierKind.POSTAL_ADDRESS, POSTAL)
    )
    assert store.t.replies[new_id]["case_id"] == case_id
    # The bounce reported again, or the letter failing: no second fallback.
    assert [k for k, _ in await report(store, original.reply_id, ReplyStatus.BOUNCED)] == [
        "reply.status-changed"
    ]
    assert [
        k for k, _ in await report(store, new_id, ReplyStatus.FAILED, channel=ReplyChannel.LETTER)
    ] == ["reply.status-changed"]


async def test_no_rule_applies_nothing_is_sent() -> None:
    store = FakeRouterStore()
    # Letters opted out.
    party_id, case_id, address = await resident(store, postal_address=Trust.VERIFIED)
    await run(store, prefs(party_id, ReplyChannel.LETTER))
    first = reply(case_id, identifier_id(party_id, IdentifierKind.EMAIL, address))
    await run(store, first)
    assert [k for k, _ in await report(store, first.reply_id, ReplyStatus.BOUNCED)] == [
        "reply.status-changed"
    ]
    # A postal address only claimed: nobody confirmed it.
    party_id, case_id, address = await resident(store, postal_address=Trust.CLAIMED)
    second = reply(case_id, identifier_id(party_id, IdentifierKind.EMAIL, address))
    await run(store, second)
    assert [k for k, _ in await report(store, second.reply_id, ReplyStatus.BOUNCED)] == [
        "reply.status-changed"
    ]
    # A failed e-mail (not a bounce) and a delivered one: no rule.
    for to in (ReplyStatus.FAILED, ReplyStatus.DELIVERED):
        third = reply(case_id, identifier_id(party_id, IdentifierKind.EMAIL, address))
        await run(store, third)
        assert [k for k, _ in await report(store, third.reply_id, to)] == ["reply.status-changed"]
    assert fallback_id(first.reply_id) not in store.t.replies


async def test_an_ended_chat_falls_back_to_email_else_sms_never_below_its_trust() -> None:
    store = FakeRouterStore()
    party_id, case_id, address = await resident(store, chat=Trust.VERIFIED, phone=Trust.VERIFIED)
    chat = next(r for r in store.t.identifiers.values() if r["kind"] == "chat")["value"]

    async def chat_reply() -> uuid.UUID:
        command = reply(
            case_id,
            identifier_id(party_id, IdentifierKind.CHAT, chat),
            channel=ReplyChannel.CHAT,
            subject=None,
        )
        await run(store, command)
        return command.reply_id

    ended = f"chatplatform: {SESSION_ENDED}"
    first = await chat_reply()
    events = await report(store, first, ReplyStatus.FAILED, ReplyChannel.CHAT, ended)
    assert (events[2][1]["channel"], events[2][1]["address"]) == ("email", address)
    # Another failure of a chat reply (not an ended session): nothing.
    other = await chat_reply()
    assert len(await report(store, other, ReplyStatus.FAILED, ReplyChannel.CHAT, "403")) == 1
    # E-mail opted out: SMS, without a subject.
    await run(store, prefs(party_id, ReplyChannel.EMAIL))
    second = await chat_reply()
    events = await report(store, second, ReplyStatus.FAILED, ReplyChannel.CHAT, ended)
    assert (events[2][1]["channel"], events[2][1]["address"]) == ("sms", "+31612345678")
    assert events[2][1]["subject"] is None
    # SMS opted out too: nothing left at the chat's trust.
    await run(store, prefs(party_id, ReplyChannel.EMAIL, ReplyChannel.SMS))
    third = await chat_reply()
    assert len(await report(store, third, ReplyStatus.FAILED, ReplyChannel.CHAT, ended)) == 1


async def test_a_fallback_is_never_below_the_originals_trust() -> None:
    store = FakeRouterStore()
    party_id, case_id, address = await resident(store, postal_address=Trust.VERIFIED)
    # The e-mail address is authenticated-strong here: make the original need more.
    original = reply(case_id, identifier_id(party_id, IdentifierKind.EMAIL, address))
    await run(store, original)
    store.t.replies[original.reply_id]["request"]["recipient_trust"] = "authenticated"
    assert [k for k, _ in await report(store, original.reply_id, ReplyStatus.BOUNCED)] == [
        "reply.status-changed"
    ]
