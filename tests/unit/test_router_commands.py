"""Every staff command on the in-memory store: what it changes, the events it publishes,
and the ``command.rejected`` (with nothing changed) when it cannot be carried out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.router.commands import HANDLERS, carry_out
from services.router.context import RouterContext
from shared.contracts import (
    Actor,
    CaseStatus,
    Channel,
    IdentifierKind,
    Trust,
    to_cloudevent,
)
from shared.contracts import commands as c
from shared.contracts.base import Event
from shared.envelope import CloudEvent, source_urn
from tests.fakes.router_inbound import (
    NOW,
    ROUTING,
    bsn,
    digid,
    email,
    message,
    route,
    routed_data,
    typed,
)
from tests.fakes.router_store import FakeRouterStore

CASEVIEW = source_urn("00000000000000000000", "eenloket-caseview")
CTX = RouterContext(
    source=source_urn("00000000000000000000", "eenloket-router"),
    timeline_topic="omni.timeline.v1",
    routing=ROUTING,
)
CLERK = Actor(user="medewerker-1", team="kcc")


async def run(
    store: FakeRouterStore, command: Event | dict[str, Any], type_: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """Carry out a command (a model, or raw ``data`` of ``type_``); returns the events it
    published: (type without prefix, data)."""
    if isinstance(command, Event):
        event = to_cloudevent(command, source=CASEVIEW, subject=uuid.uuid4())
    else:
        event = CloudEvent(source=CASEVIEW, type=type_, subject=str(uuid.uuid4()), data=command)
    before = len(store.t.outbox)
    await carry_out(store, event, CTX, NOW)
    rows = store.t.outbox[before:]
    assert all(r["payload"].get("causationid") == str(event.id) for r in rows)
    return [(r["type"].removeprefix("nl.eenloket."), r["payload"]["data"]) for r in rows]


def rejected(events: list[tuple[str, dict[str, Any]]]) -> str:
    """The reason of the one ``command.rejected`` published."""
    ((kind, data),) = events
    assert kind == "command.rejected"
    return str(data["reason"])


async def new_case(
    store: FakeRouterStore, text: str = "Mijn paspoort is verlopen"
) -> tuple[uuid.UUID, uuid.UUID]:
    """A party and its case, as routing a message makes them: (party id, case id)."""
    (routed,) = await route(store, message(digid(bsn()), text=text))
    data = routed_data(routed)
    return uuid.UUID(data["party_id"]), uuid.UUID(data["case_id"])


def test_every_command_has_a_handler_tested_here() -> None:
    assert set(HANDLERS) == set(c.COMMAND_TYPES)


# --- case commands ------------------------------------------------------------------------


async def test_hand_over() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    events = await run(
        store,
        c.HandOverCase(
            case_id=case_id, from_team="burgerzaken", to_team="kcc", reason="vraag", by=CLERK
        ),
    )
    assert [k for k, _ in events] == ["case.handed-over"]
    assert events[0][1]["handover_count"] == 1
    row = store.t.cases[case_id]
    assert (row["owner_team"], row["handover_count"], row["last_activity_at"]) == ("kcc", 1, NOW)


async def test_a_handover_to_a_confidential_team_classifies_the_case() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    events = await run(
        store,
        c.HandOverCase(
            case_id=case_id, from_team="burgerzaken", to_team="zorg", reason="wmo", by=CLERK
        ),
    )
    assert [k for k, _ in events] == ["case.handed-over", "case.classified"]
    assert events[1][1]["confidential"] is True
    assert store.t.cases[case_id]["confidential"] is True


@pytest.mark.parametrize(
    ("from_team", "to_team", "reason", "why"),
    [
        ("kcc", "afval", "x", "case is owned by 'burgerzaken', not 'kcc'"),
        ("burgerzaken", "burgerzaken", "x", "case is already owned by 'burgerzaken'"),
        ("burgerzaken", "nergens", "x", "team 'nergens' does not exist"),
    ],
)
async def test_a_handover_is_rejected(from_team: str, to_team: str, reason: str, why: str) -> None:
    store = FakeRouterStore()
    party_id, case_id = await new_case(store)
    before = dict(store.t.cases[case_id])
    events = await run(
        store,
        c.HandOverCase(
            case_id=case_id, from_team=from_team, to_team=to_team, reason=reason, by=CLERK
        ),
    )
    assert rejected(events) == why
    assert events[0][1]["case_id"] == str(case_id) and events[0][1]["party_id"] == str(party_id)
    assert store.t.cases[case_id] == before


async def test_a_blank_reason_is_rejected_as_invalid() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    data = {
        "case_id": str(case_id),
        "from_team": "burgerzaken",
        "to_team": "afval",
        "reason": "   ",
        "by": CLERK.model_dump(mode="json"),
    }
    assert rejected(await run(store, data, type_=c.HandOverCase.TYPE)).startswith(
        "invalid command: reason"
    )
    assert store.t.cases[case_id]["owner_team"] == "burgerzaken"


async def test_participants() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    add = c.AddParticipant(case_id=case_id, team="kcc", by=CLERK)
    assert [k for k, _ in await run(store, add)] == ["case.participant-added"]
    assert rejected(await run(store, add)) == "'kcc' already participates"
    owner = c.AddParticipant(case_id=case_id, team="burgerzaken", by=CLERK)
    assert (
        rejected(await run(store, owner))
        == "'burgerzaken' owns the case; owners are not also participants"
    )
    remove = c.RemoveParticipant(case_id=case_id, team="kcc", by=CLERK)
    assert [k for k, _ in await run(store, remove)] == ["case.participant-removed"]
    assert rejected(await run(store, remove)) == "'kcc' does not participate in this case"
    assert store.t.participants == set()


async def test_change_status_close_and_notes_after() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    waiting = c.ChangeStatus(case_id=case_id, status="wacht op inwoner", by=CLERK)
    events = await run(store, waiting)
    assert events[0][0] == "case.status-changed"
    assert (events[0][1]["from_status"], events[0][1]["to_status"]) == ("open", "wacht op inwoner")
    assert rejected(await run(store, waiting)) == "case already has status 'wacht op inwoner'"

    events = await run(store, c.CloseCase(case_id=case_id, result="paspoort aangevraagd", by=CLERK))
    assert [k for k, _ in events] == ["case.closed"]
    row = store.t.cases[case_id]
    assert (row["status"], row["result"], row["closed_at"]) == (
        CaseStatus.CLOSED,
        "paspoort aangevraagd",
        NOW,
    )
    number = row["number"]
    assert rejected(await run(store, waiting)) == f"case {number} is closed"
    assert (
        rejected(await run(store, c.CloseCase(case_id=case_id, result="x", by=CLERK)))
        == f"case {number} is closed"
    )
    # The history goes on: notes and outbound contacts on a closed case are allowed.
    assert [
        k for k, _ in await run(store, c.AddNote(case_id=case_id, text="gebeld", by=CLERK))
    ] == ["case.note-added"]
    outbound = c.RegisterOutboundContact(
        case_id=case_id, channel=Channel.PHONE, summary="teruggebeld", by=CLERK
    )
    assert [k for k, _ in await run(store, outbound)] == ["contact.outbound-registered"]


@pytest.mark.parametrize(
    "command",
    [
        c.HandOverCase(
            case_id=uuid.uuid4(), from_team="kcc", to_team="afval", reason="x", by=CLERK
        ),
        c.AddParticipant(case_id=uuid.uuid4(), team="kcc", by=CLERK),
        c.RemoveParticipant(case_id=uuid.uuid4(), team="kcc", by=CLERK),
        c.ChangeStatus(case_id=uuid.uuid4(), status="open", by=CLERK),
        c.CloseCase(case_id=uuid.uuid4(), result="x", by=CLERK),
        c.AddNote(case_id=uuid.uuid4(), text="x", by=CLERK),
        c.RegisterOutboundContact(
            case_id=uuid.uuid4(), channel=Channel.PHONE, summary="x", by=CLERK
        ),
    ],
)
async def test_a_command_on_an_unknown_case_is_rejected(command: Event) -> None:
    store = FakeRouterStore()
    events = await run(store, command)
    assert rejected(events) == "unknown case"
    assert events[0][1]["party_id"] is None and events[0][1]["case_id"] is None


async def test_an_invalid_command_is_rejected() -> None:
    store = FakeRouterStore()
    events = await run(store, {"case_id": "not-a-uuid"}, type_=c.ChangeStatus.TYPE)
    assert rejected(events).startswith("invalid command: case_id")


# --- links, merges and their undo -----------------------------------------------------------


async def suggested(store: FakeRouterStore) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]:
    """A known party with an open case, and a provisional one that typed the known one's BSN
    from an address of its own: (known, provisional, suggestion id, that address)."""
    number, address = bsn(), email()
    await route(store, message(digid(number), text="Mijn paspoort is verlopen"))
    known = next(r["party_id"] for r in store.t.identifiers.values() if r["value"] == number)
    (routed,) = await route(
        store,
        message(typed(address), typed(number, IdentifierKind.BSN), text="paspoort, nog een vraag"),
    )
    provisional = routed.events[0].party.id
    (suggestion_id,) = [s for s, r in store.t.suggestions.items() if r["party_id"] == provisional]
    return known, provisional, suggestion_id, address


async def test_rejecting_a_suggested_link() -> None:
    store = FakeRouterStore()
    _, _, suggestion_id, _ = await suggested(store)
    decide = c.DecideLink(suggestion_id=suggestion_id, confirm=False, by=CLERK)
    events = await run(store, decide)
    assert [k for k, _ in events] == ["party.link-decided"]
    assert store.t.suggestions[suggestion_id]["status"] == "rejected"
    assert store.t.merges == {}
    assert rejected(await run(store, decide)) == "suggestion was already rejected"
    unknown = c.DecideLink(suggestion_id=uuid.uuid4(), confirm=True, by=CLERK)
    assert rejected(await run(store, unknown)) == "unknown suggestion"


async def test_confirming_a_link_merges_folds_and_verifies_the_address() -> None:
    store = FakeRouterStore()
    known, provisional, suggestion_id, address = await suggested(store)
    (their_case,) = [k for k, r in store.t.cases.items() if r["party_id"] == provisional]
    decide = c.DecideLink(suggestion_id=suggestion_id, confirm=True, verify_address=True, by=CLERK)
    events = await run(store, decide)
    assert [k for k, _ in events] == [
        "party.link-decided",
        "party.merged",
        "case.merged",
        "party.identifier-added",
    ]
    merged = events[1][1]
    assert (merged["party_id"], merged["merged_party_id"]) == (str(known), str(provisional))
    assert store.t.parties[provisional]["merged_into"] == known
    folded = store.t.cases[their_case]
    assert folded["status"] == CaseStatus.CLOSED and folded["merged_into"] is not None
    assert store.t.cases[folded["merged_into"]]["party_id"] == known
    assert any(
        r["party_id"] == known and r["value"] == address and r["trust"] == Trust.VERIFIED
        for r in store.t.identifiers.values()
    )


async def test_a_rejected_command_leaves_nothing_of_what_it_began() -> None:
    store = FakeRouterStore()
    number = bsn()
    await new_case(store)
    await route(store, message(digid(number), text="paspoort"))
    # Typed only a BSN: there is no address to verify, so the confirmation is rejected
    # after its merge began; the merge is undone with it.
    (routed,) = await route(
        store, message(typed(number, IdentifierKind.BSN), channel=Channel.LETTER)
    )
    provisional = routed.events[0].party.id
    (suggestion_id,) = [s for s, r in store.t.suggestions.items() if r["party_id"] == provisional]
    before = (dict(store.t.parties[provisional]), dict(store.t.suggestions[suggestion_id]))
    decide = c.DecideLink(suggestion_id=suggestion_id, confirm=True, verify_address=True, by=CLERK)
    reason = rejected(await run(store, decide))
    assert reason.startswith("there is no claimed e-mail address")
    assert (store.t.parties[provisional], store.t.suggestions[suggestion_id]) == before
    assert store.t.merges == {}


async def test_merge_and_unmerge() -> None:
    store = FakeRouterStore()
    survivor, kept_case = await new_case(store, "Mijn paspoort is verlopen")
    merged, their_case = await new_case(store, "Nog iets over mijn paspoort")
    _, other_matter = await new_case(store, "Mijn kliko is niet geleegd")
    store.t.cases[other_matter]["party_id"] = merged  # a matter of its own: not folded
    merge = c.MergeParties(
        party_id=survivor, merged_party_id=merged, reason="zelfde persoon", by=CLERK
    )
    events = await run(store, merge)
    assert [k for k, _ in events] == ["party.merged", "case.merged"]
    assert events[1][1]["into_case_id"] == str(kept_case)
    assert store.t.cases[their_case]["merged_into"] == kept_case
    assert store.t.cases[other_matter]["status"] == CaseStatus.OPEN
    assert rejected(await run(store, merge)) == "that party is already merged into another"
    back = c.MergeParties(party_id=merged, merged_party_id=survivor, reason="x", by=CLERK)
    assert rejected(await run(store, back)) == "a party cannot be merged into itself"
    nobody = c.MergeParties(party_id=survivor, merged_party_id=uuid.uuid4(), reason="x", by=CLERK)
    assert rejected(await run(store, nobody)) == "unknown party"

    (merge_id,) = store.t.merges
    undo = c.UnmergeParties(merge_id=merge_id, reason="toch niet", by=CLERK)
    events = await run(store, undo)
    assert [k for k, _ in events] == ["party.unmerged", "case.unfolded"]
    assert store.t.parties[merged]["merged_into"] is None
    unfolded = store.t.cases[their_case]
    assert (unfolded["status"], unfolded["merged_into"]) == (CaseStatus.OPEN, None)
    assert rejected(await run(store, undo)) == "this merge was already undone"
    unknown = c.UnmergeParties(merge_id=uuid.uuid4(), reason="x", by=CLERK)
    assert rejected(await run(store, unknown)) == "unknown merge"


async def test_undoing_a_merge_revokes_the_address_it_verified() -> None:
    store = FakeRouterStore()
    known, _, suggestion_id, address = await suggested(store)
    await run(
        store,
        c.DecideLink(suggestion_id=suggestion_id, confirm=True, verify_address=True, by=CLERK),
    )
    (merge_id,) = store.t.merges
    events = await run(store, c.UnmergeParties(merge_id=merge_id, reason="toch niet", by=CLERK))
    assert [k for k, _ in events] == ["party.unmerged", "case.unfolded", "party.identifier-revoked"]
    assert events[2][1]["identifier"]["value"] == address
    assert not any(
        r["party_id"] == known and r["value"] == address for r in store.t.identifiers.values()
    )


async def test_events_of_a_party_are_numbered_after_its_stored_version() -> None:
    store = FakeRouterStore()
    _, case_id = await new_case(store)
    party_id = store.t.cases[case_id]["party_id"]
    store.t.parties[party_id]["version"] = 41
    before = len(store.t.outbox)
    await run(store, c.AddNote(case_id=case_id, text="a", by=CLERK))
    await run(store, c.AddNote(case_id=case_id, text="b", by=CLERK))
    assert [r["payload"]["sequence"] for r in store.t.outbox[before:]] == [42, 43]
    assert store.t.parties[party_id]["version"] == 43
