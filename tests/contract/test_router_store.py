"""One suite, three stores: whatever PostgreSQL does, SQLite and the fake do too (a difference
is a failing test here, not a surprise in the demo or a unit test that lies)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router.domain.identity import Holding
from services.router.domain.model import Case, Party, case_number
from services.router.store.protocol import (
    ContactPreferences,
    Merge,
    MergeEffect,
    RouterStore,
    Suggestion,
)
from shared.contracts import CaseStatus, IdentifierKind, SenderIdentifier, Trust
from tests.contract.conftest import Harness

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)


def _year() -> int:
    """A year of its own: the counter rows of the shared database are not another test's."""
    return random.randint(3000, 9999)


def _number() -> str:
    return case_number(_year(), random.randint(1, 10**9))


def _email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.nl"


async def _party(
    store: RouterStore, *, provisional: bool = False, origin: str | None = None
) -> uuid.UUID:
    party_id = uuid.uuid4()
    await store.insert_parties(
        [
            {
                "id": party_id,
                "provisional": provisional,
                "display_name": "Jan",
                "origin": origin,
                "version": 0,
                "created_at": NOW,
            }
        ]
    )
    return party_id


def _case(party_id: uuid.UUID, **overrides: Any) -> Case:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "number": _number(),
        "party_id": party_id,
        "product": "Paspoort",
        "status": CaseStatus.OPEN.value,
        "owner_team": "burgerzaken",
        "opened_at": EARLIER,
        "last_activity_at": EARLIER,
        "confidential": False,
        "handover_count": 0,
        "establishment": None,
    }
    return Case(**(fields | overrides))


async def _cases(store: RouterStore, *cases: Case) -> None:
    await store.insert_cases(list(cases), {c.id: None for c in cases})


def _claimed(value: str, kind: IdentifierKind = IdentifierKind.EMAIL) -> SenderIdentifier:
    return SenderIdentifier(kind=kind, value=value, trust=Trust.CLAIMED)


# --- parties ---------------------------------------------------------------------------


async def test_parties_are_inserted_locked_and_known(harness: Harness) -> None:
    store = harness.store
    known = await _party(store)
    provisional = await _party(store, provisional=True)
    unknown = uuid.uuid4()
    assert await store.lock_parties([provisional, known, unknown]) == {
        known: Party(known, provisional=False, version=0),
        provisional: Party(provisional, provisional=True, version=0),
    }
    assert await store.lock_party(known) == Party(known, provisional=False, version=0)
    with pytest.raises(LookupError):
        await store.lock_party(unknown)
    assert await store.lock_parties([]) == {}
    assert (await store.party_exists(known), await store.party_exists(unknown)) == (True, False)
    assert (await store.is_provisional(provisional), await store.is_provisional(known)) == (
        True,
        False,
    )


async def test_holdings_by_kind_and_value(harness: Harness) -> None:
    store = harness.store
    jan, piet = await _party(store), await _party(store)
    email, phone = _email(), f"06{random.randint(10**7, 10**8 - 1)}"
    verified = SenderIdentifier(kind=IdentifierKind.PHONE, value=phone, trust=Trust.VERIFIED)
    message_id = uuid.uuid4()
    await store.insert_identifiers(
        [(jan, _claimed(email), message_id), (piet, _claimed(email), None), (jan, verified, None)],
        now=NOW,
    )
    found = await store.holdings([_claimed(email), _claimed(phone)])
    assert sorted(found, key=str) == sorted(
        [
            Holding(jan, IdentifierKind.EMAIL, email, Trust.CLAIMED),
            Holding(piet, IdentifierKind.EMAIL, email, Trust.CLAIMED),
        ],
        key=str,
    ), "the same value under another kind is not held"
    assert await store.holdings([]) == []
    assert sorted(await store.identifiers_of(jan), key=str) == sorted(
        [
            Holding(jan, IdentifierKind.EMAIL, email, Trust.CLAIMED),
            Holding(jan, IdentifierKind.PHONE, phone, Trust.VERIFIED),
        ],
        key=str,
    )
    assert await store.strongly_held_elsewhere(IdentifierKind.PHONE, phone, piet)
    assert not await store.strongly_held_elsewhere(IdentifierKind.PHONE, phone, jan)
    assert not await store.strongly_held_elsewhere(IdentifierKind.EMAIL, email, piet)


async def test_parties_by_origin(harness: Harness) -> None:
    store = harness.store
    origin = f"email:{_email()}"
    party = await _party(store, provisional=True, origin=origin)
    assert await store.parties_by_origin([origin, f"email:{_email()}"]) == {origin: party}
    assert await store.parties_by_origin([]) == {}


async def test_survivors_through_a_merge_chain(harness: Harness) -> None:
    store = harness.store
    origin = f"email:{_email()}"
    first = await _party(store, provisional=True, origin=origin)
    second = await _party(store, provisional=True)
    last = await _party(store)
    email = _email()
    await store.insert_identifiers([(first, _claimed(email), None)], now=NOW)
    await store.set_merged_into(first, second)
    await store.set_merged_into(second, last)

    assert await store.survivor(first) == last
    assert await store.survivor(last) == last
    assert await store.survivors([first, second, last, uuid.uuid4()]) == {
        first: last,
        second: last,
        last: last,
    }
    assert await store.survivors([]) == {}
    assert await store.holdings([_claimed(email)]) == [
        Holding(last, IdentifierKind.EMAIL, email, Trust.CLAIMED)
    ]
    # A merged party's address no longer recognises anyone by itself.
    assert await store.parties_by_origin([origin]) == {}
    assert await store.families([last]) == {last: frozenset({first, second, last})}
    assert await store.families([second]) == {second: frozenset({first, second})}
    # Asked for together, a party is its own family's head, not a member of another's.
    assert await store.families([last, second]) == {
        last: frozenset({last}),
        second: frozenset({first, second}),
    }
    assert await store.unmerged_provisional([first, second, last]) == set()

    await store.set_merged_into(second, None)  # undone
    assert await store.survivor(first) == second
    assert await store.unmerged_provisional([first, second, last]) == {second}
    assert (await store.families([last]))[last] == frozenset({last})


async def test_verify_and_remove_an_identifier(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    email = _email()
    row_id = await store.verify_identifier(party, IdentifierKind.EMAIL, email, NOW)
    holding = Holding(party, IdentifierKind.EMAIL, email, Trust.VERIFIED)
    assert await store.identifiers_of(party) == [holding]
    assert await store.remove_identifier(row_id) == holding
    assert await store.remove_identifier(row_id) is None
    assert await store.identifiers_of(party) == []


# --- suggestions and merges -------------------------------------------------------------


def _suggestion(party: uuid.UUID, other: uuid.UUID) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "party_id": party,
        "suggested_party_id": other,
        "kind": IdentifierKind.EMAIL.value,
        "value": _email(),
        "trust": Trust.CLAIMED.value,
        "message_id": uuid.uuid4(),
        "status": "pending",
        "created_at": NOW,
    }


async def test_a_pair_is_suggested_once_and_decided(harness: Harness) -> None:
    store = harness.store
    a, b = await _party(store), await _party(store)
    first, again, reverse = _suggestion(a, b), _suggestion(a, b), _suggestion(b, a)
    assert await store.insert_suggestions([first]) == {first["id"]}
    assert await store.insert_suggestions([again, reverse]) == {reverse["id"]}
    assert await store.insert_suggestions([]) == set()
    assert await store.suggestion(first["id"]) == Suggestion(first["id"], a, b, "pending")
    assert await store.suggestion(again["id"]) is None
    await store.decide_suggestion(first["id"], confirmed=True, by="medewerker-1", now=NOW)
    await store.decide_suggestion(reverse["id"], confirmed=False, by="medewerker-1", now=NOW)
    assert (await store.suggestion(first["id"])) == Suggestion(first["id"], a, b, "confirmed")
    assert (await store.suggestion(reverse["id"])) == Suggestion(reverse["id"], b, a, "rejected")


async def test_merges_and_their_effects(harness: Harness) -> None:
    store = harness.store
    a, b = await _party(store), await _party(store)
    merge_id, case_id = uuid.uuid4(), uuid.uuid4()
    await store.add_merge(
        id=merge_id,
        party_id=a,
        merged_party_id=b,
        by_user="medewerker-1",
        by_team="kcc",
        reason="zelfde persoon",
        at=NOW,
    )
    assert await store.merge(merge_id) == Merge(merge_id, a, b, None)
    assert await store.merge(uuid.uuid4()) is None
    await store.record_merge_effects(
        merge_id, [{"kind": "verified", "key": "k1"}, {"kind": "ref", "key": "r1"}], case_id=case_id
    )
    await store.record_merge_effects(merge_id, [], case_id=None)
    assert sorted(await store.merge_effects_of(merge_id), key=lambda e: e.kind) == [
        MergeEffect("ref", "r1", case_id, None),
        MergeEffect("verified", "k1", case_id, None),
    ]
    await store.undo_merge(merge_id, by="medewerker-2", reason="toch niet", now=NOW)
    assert await store.merge(merge_id) == Merge(merge_id, a, b, NOW)


# --- cases ------------------------------------------------------------------------------


async def test_cases_by_party_number_and_status(harness: Harness) -> None:
    store = harness.store
    party, other = await _party(store), await _party(store)
    open_case = _case(party, establishment="000012345678", confidential=True)
    closed = _case(party, status=CaseStatus.CLOSED.value, product=None)
    waiting = _case(party, status=CaseStatus.WAITING_FOR_RESIDENT.value)
    theirs = _case(other)
    await store.insert_cases(
        [open_case, closed, waiting, theirs],
        {open_case.id: NOW, closed.id: None, waiting.id: None, theirs.id: None},
    )
    assert await store.case(open_case.id) == open_case
    assert await store.case(closed.id, lock=True) == closed
    assert await store.case(uuid.uuid4()) is None
    by_id = lambda cases: sorted(cases, key=lambda c: c.id)  # noqa: E731
    assert by_id(await store.cases_of([party])) == by_id([open_case, closed, waiting])
    assert by_id(await store.cases_of([party, other], open_only=True)) == by_id(
        [open_case, waiting, theirs]
    )
    assert await store.cases_of([]) == []
    assert by_id(await store.cases_by_numbers([closed.number, theirs.number, _number()])) == by_id(
        [closed, theirs]
    )
    assert await store.cases_by_numbers([]) == []


async def test_touch_classify_and_update(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    a, b, untouched = _case(party), _case(party, product=None), _case(party)
    await _cases(store, a, b, untouched)
    await store.touch_cases([a.id, b.id], NOW)
    await store.touch_cases([], NOW)
    await store.classify_cases({a.id: ("Bijstand", True), b.id: (None, True)})
    await store.classify_cases({})
    await store.update_case(
        untouched.id, owner_team="kcc", handover_count=2, status="in behandeling"
    )
    assert await store.case(a.id) == Case(
        **(vars(a) | {"last_activity_at": NOW, "product": "Bijstand", "confidential": True})
    )
    assert await store.case(b.id) == Case(
        **(vars(b) | {"last_activity_at": NOW, "product": None, "confidential": True})
    )
    assert await store.case(untouched.id) == Case(
        **(vars(untouched) | {"owner_team": "kcc", "handover_count": 2, "status": "in behandeling"})
    )


async def test_case_numbers_are_gapless_per_year(harness: Harness) -> None:
    store = harness.store
    year = _year()
    next_year = year + 1 if year < 9999 else year - 1
    assert await store.next_case_numbers(year, 2) == [case_number(year, 1), case_number(year, 2)]
    assert await store.next_case_numbers(year, 3) == [case_number(year, n) for n in (3, 4, 5)]
    assert await store.next_case_numbers(next_year, 1) == [case_number(next_year, 1)]
    assert await store.next_case_numbers(year, 1) == [case_number(year, 6)]


async def test_thread_refs_stay_with_their_first_case(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    first, second = _case(party), _case(party)
    await _cases(store, first, second)
    ref, other = f"<{uuid.uuid4()}@mail>", f"chat:{uuid.uuid4()}"
    await store.insert_thread_refs({ref: first.id})
    await store.insert_thread_refs({ref: second.id, other: second.id})
    await store.insert_thread_refs({})
    assert await store.cases_by_refs([ref, other, "unknown"]) == {ref: first, other: second}
    assert await store.cases_by_refs([]) == {}


async def test_contacts_are_recorded_once(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    case, elsewhere = _case(party), _case(party)
    await _cases(store, case, elsewhere)
    m1, m2 = uuid.uuid4(), uuid.uuid4()
    await store.insert_contacts(
        [
            {"message_id": m1, "case_id": case.id, "referenced_case_id": None},
            {"message_id": m2, "case_id": case.id, "referenced_case_id": elsewhere.id},
        ]
    )
    await store.insert_contacts(
        [{"message_id": m1, "case_id": elsewhere.id, "referenced_case_id": None}]
    )
    await store.insert_contacts([])
    assert sorted(await store.contacts_of(case.id), key=str) == sorted(
        [(m1, None), (m2, elsewhere.id)], key=str
    )
    assert await store.contacts_of(elsewhere.id) == []


async def test_channel_message_ids_of_a_case_last_first(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    case, other = _case(party), _case(party)
    await _cases(store, case, other)

    def row(case_id: uuid.UUID, channel: str, own: str | None, minutes: int) -> dict[str, Any]:
        return {
            "message_id": uuid.uuid4(),
            "case_id": case_id,
            "referenced_case_id": None,
            "channel": channel,
            "channel_message_id": own,
            "received_at": EARLIER + timedelta(minutes=minutes),
        }

    ids = [f"<{uuid.uuid4()}@mail.example.nl>" for _ in range(4)]
    await store.insert_contacts(
        [
            row(case.id, "email", ids[1], 2),
            row(case.id, "email", ids[0], 1),
            row(case.id, "email", ids[2], 3),
            row(case.id, "web", "form-1", 9),  # another channel
            row(case.id, "email", None, 10),  # an e-mail without a Message-ID
            row(other.id, "email", ids[3], 5),  # another case
        ]
    )
    assert await store.channel_message_ids(case.id, "email", 10) == [ids[2], ids[1], ids[0]]
    assert await store.channel_message_ids(case.id, "email", 2) == [ids[2], ids[1]]
    assert await store.channel_message_ids(case.id, "web", 10) == ["form-1"]
    assert await store.channel_message_ids(uuid.uuid4(), "email", 10) == []


async def test_replies_are_known_by_id(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    case = _case(party)
    await _cases(store, case)
    reply_id = uuid.uuid4()
    await store.insert_reply(reply_id, case_id=case.id, channel="email", requested_at=NOW)
    assert await store.reply_case(reply_id) == case.id
    assert await store.reply_case(uuid.uuid4()) is None
    assert await store.reply_request(reply_id) is None
    asked = {"command": {"channel": "email", "text": "Beste"}, "recipient_trust": "verified"}
    other = uuid.uuid4()
    await store.insert_reply(
        other, case_id=case.id, channel="email", requested_at=NOW, request=asked
    )
    assert await store.reply_request(other) == asked


async def test_contact_preferences_are_set_whole(harness: Harness) -> None:
    store = harness.store
    party = await _party(store)
    assert await store.contact_preferences(party) == ContactPreferences()
    first = ContactPreferences("letter", frozenset({"email", "sms"}))
    await store.set_contact_preferences(party, first, NOW)
    assert await store.contact_preferences(party) == first
    await store.set_contact_preferences(party, ContactPreferences(None, frozenset()), NOW)
    assert await store.contact_preferences(party) == ContactPreferences()


async def _merge(store: RouterStore, survivor: uuid.UUID, merged: uuid.UUID) -> uuid.UUID:
    merge_id = uuid.uuid4()
    await store.add_merge(
        id=merge_id,
        party_id=survivor,
        merged_party_id=merged,
        by_user="medewerker-1",
        by_team=None,
        reason="zelfde persoon",
        at=NOW,
    )
    return merge_id


async def test_fold_and_unfold(harness: Harness) -> None:
    store = harness.store
    theirs_party, ours_party = await _party(store), await _party(store)
    merge_id = await _merge(store, ours_party, theirs_party)
    theirs = _case(theirs_party, status="in behandeling")
    ours, later = _case(ours_party), _case(ours_party)
    await _cases(store, theirs, ours, later)
    message, ref = uuid.uuid4(), f"<{uuid.uuid4()}@mail>"
    await store.insert_contacts(
        [{"message_id": message, "case_id": theirs.id, "referenced_case_id": None}]
    )
    await store.insert_thread_refs({ref: theirs.id})

    await store.fold_case(
        theirs.id,
        ours.id,
        result="samengevoegd",
        now=NOW,
        merge_id=merge_id,
        status_before=theirs.status,
    )
    folded = await store.case(theirs.id)
    assert folded == Case(
        **(vars(theirs) | {"status": CaseStatus.CLOSED.value, "last_activity_at": NOW})
    )
    assert await store.contacts_of(ours.id) == [(message, None)]
    assert await store.cases_by_refs([ref]) == {ref: ours}
    assert await store.final_case(theirs.id) == ours.id
    assert await store.final_case(ours.id) == ours.id
    assert sorted(await store.merge_effects_of(merge_id), key=lambda e: e.kind) == [
        MergeEffect("contact", str(message), theirs.id, None),
        MergeEffect("fold", str(theirs.id), ours.id, "in behandeling"),
        MergeEffect("ref", ref, theirs.id, None),
    ]
    # Folded again (a later merge): followed to the last.
    second_merge = await _merge(store, ours_party, theirs_party)
    await store.fold_case(
        ours.id,
        later.id,
        result="samengevoegd",
        now=NOW,
        merge_id=second_merge,
        status_before="open",
    )
    assert await store.final_case(theirs.id) == later.id

    await store.unfold_case(theirs.id, message_ids=[message], refs=[ref], status="in behandeling")
    unfolded = Case(**(vars(theirs) | {"last_activity_at": NOW}))
    assert await store.case(theirs.id) == unfolded
    assert await store.final_case(theirs.id) == theirs.id
    assert await store.contacts_of(theirs.id) == [(message, None)]
    assert await store.cases_by_refs([ref]) == {ref: unfolded}


async def test_participants(harness: Harness) -> None:
    store = harness.store
    case = _case(await _party(store))
    await _cases(store, case)
    await store.add_participant(case.id, "kcc")
    await store.add_participant(case.id, "burgerzaken")
    assert await store.participants(case.id) == {"kcc", "burgerzaken"}
    await store.remove_participant(case.id, "kcc")
    await store.remove_participant(case.id, "nobody")
    assert await store.participants(case.id) == {"burgerzaken"}


# --- events and savepoints --------------------------------------------------------------


def _outbox_row(party: uuid.UUID, sequence: int) -> dict[str, Any]:
    event_id = uuid.uuid4()
    return {
        "id": event_id,
        "aggregatetype": "party",
        "aggregateid": str(party),
        "type": "nl.eenloket.party.created",
        "payload": {"id": str(event_id), "sequence": sequence, "data": {"ø": "é"}},
        "topic": "omni.timeline.v1",
        "trace": {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
        if sequence % 2
        else None,
        "created_at": NOW,
    }


async def test_events_write_versions_and_outbox_rows_in_order(harness: Harness) -> None:
    store = harness.store
    a, b = await _party(store), await _party(store)
    rows = [_outbox_row(a, 1), _outbox_row(b, 1), _outbox_row(a, 2)]
    await store.write_events({a: 2, b: 1}, rows)
    await store.write_events({}, [])
    assert await store.lock_parties([a, b]) == {
        a: Party(a, provisional=False, version=2),
        b: Party(b, provisional=False, version=1),
    }
    stored = await harness.outbox_rows([r["id"] for r in rows])
    assert [{k: s[k] for k in rows[0]} for s in stored] == rows


async def _write_then_fail(store: RouterStore, party_id: uuid.UUID) -> None:
    async with store.savepoint():
        await store.insert_parties(
            [
                {
                    "id": party_id,
                    "provisional": True,
                    "display_name": None,
                    "origin": None,
                    "version": 0,
                    "created_at": NOW,
                }
            ]
        )
        await store.update_case(uuid.uuid4(), status="open")
        raise RuntimeError("rejected")


async def test_a_savepoint_undoes_what_was_written_in_it(harness: Harness) -> None:
    store = harness.store
    kept = await _party(store)
    gone = uuid.uuid4()
    with pytest.raises(RuntimeError):
        await _write_then_fail(store, gone)
    assert await store.party_exists(kept)
    assert not await store.party_exists(gone)
    async with store.savepoint():
        await store.set_merged_into(kept, None)
    assert await store.survivor(kept) == kept
