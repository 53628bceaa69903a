"""``route_messages`` on the in-memory store: identification, case matching, numbering and
the events of a batch, in milliseconds (the same store contract as PostgreSQL's)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.router.domain.model import case_number
from shared.contracts import Channel, Evidence, IdentifierKind, SenderIdentifier, Trust
from tests.fakes.router_inbound import (
    NOW,
    bsn,
    digid,
    email,
    message,
    route,
    routed_data,
    typed,
    types,
)
from tests.fakes.router_store import FakeRouterStore


async def test_a_first_message_creates_its_party_and_case() -> None:
    store = FakeRouterStore()
    m = message(digid(bsn()), text="Mijn paspoort is verlopen")
    (routed,) = await route(store, m)
    assert types(routed) == ["party.created", "case.opened", "message.routed"]
    party_id = routed.events[0].party.id
    (case,) = store.t.cases.values()
    assert case["party_id"] == party_id
    assert (case["number"], case["owner_team"], case["product"]) == (
        case_number(2026, 1),
        "burgerzaken",
        "paspoort",
    )
    assert case["due_at"] is not None and case["due_at"] > NOW
    assert routed.events[1].data["case_number"] == case["number"]
    data = routed_data(routed)
    assert data["case_number"] == case["number"]
    assert data["explanation"]["owner_rule"] == "product:paspoort"
    assert store.t.contacts[m.message_id]["case_id"] == case["id"]
    assert [(r["kind"], r["trust"]) for r in store.t.identifiers.values()] == [
        ("bsn", "authenticated")
    ]
    assert routed.labels == ("new-case", "product", "burgerzaken")


async def test_nothing_to_route_touches_nothing() -> None:
    store = FakeRouterStore()
    assert await route(store) == []
    assert store.t.parties == {} and store.t.counters == {}


# How the second message of a party finds the first one's case (design §5, in order).
MATCHING = [
    # (how the second message differs, expected case rule, same case?)
    ("quotes the case number", "case-number", True),
    ("replies in the thread", "thread", True),
    ("same product", "open-case-same-product", True),
    ("no product", "open-case-recent", True),
    ("another product", "new-case", False),
]


@pytest.mark.parametrize(("variant", "rule", "same_case"), MATCHING)
async def test_case_matching(variant: str, rule: str, same_case: bool) -> None:
    store = FakeRouterStore()
    person = digid(bsn())
    thread = f"email:<{uuid.uuid4()}@mail>"
    (first,) = await route(store, message(person, text="Mijn paspoort is verlopen", refs=(thread,)))
    opened = first.events[1].data
    second = {
        "quotes the case number": message(
            person, text="Hoe staat het?", case_number=opened["case_number"]
        ),
        "replies in the thread": message(person, text="Over mijn kliko", refs=(thread,)),
        "same product": message(person, text="Nog iets over mijn paspoort"),
        "no product": message(person, text="Nog een vraag"),
        "another product": message(person, text="Mijn kliko is niet geleegd"),
    }[variant]
    (routed,) = await route(store, second)
    data = routed_data(routed)
    assert data["explanation"]["case_rule"] == rule
    assert (data["case_id"] == opened["case_id"]) is same_case
    assert ("case.opened" in types(routed)) is not same_case


async def test_a_typed_identifier_never_links_but_suggests() -> None:
    store = FakeRouterStore()
    number = bsn()
    (known,) = await route(store, message(digid(number), text="Bijstand aanvragen"))
    stranger = message(typed(email()), typed(number, IdentifierKind.BSN), channel=Channel.EMAIL)
    (routed,) = await route(store, stranger)
    assert routed.events[0].party.id != known.events[0].party.id
    expected = ["party.created", "party.link-suggested", "case.opened", "message.routed"]
    assert types(routed) == expected
    assert routed.suggested_links == 1


async def test_a_pair_is_suggested_once() -> None:
    store = FakeRouterStore()
    number = bsn()
    await route(store, message(digid(number), text="Bijstand aanvragen"))
    address = SenderIdentifier(
        kind=IdentifierKind.EMAIL, value=email(), trust=Trust.CLAIMED, evidence=Evidence.DMARC
    )
    claim = typed(number, IdentifierKind.BSN)
    (first,) = await route(store, message(address, claim, channel=Channel.EMAIL))
    (again,) = await route(store, message(address, claim, channel=Channel.EMAIL))
    assert again.events[0].party == first.events[0].party  # recognised by its address
    assert "party.link-suggested" in types(first)
    assert "party.link-suggested" not in types(again)
    assert again.suggested_links == 0
    assert len(store.t.suggestions) == 1


async def test_a_later_message_of_the_batch_sees_what_an_earlier_one_created() -> None:
    store = FakeRouterStore()
    person = digid(bsn())
    first, second = await route(
        store,
        message(person, text="Mijn paspoort is verlopen"),
        message(person, text="En nog iets over mijn paspoort"),
    )
    assert types(first) == ["party.created", "case.opened", "message.routed"]
    assert types(second) == ["message.routed"]
    assert routed_data(second)["case_id"] == routed_data(first)["case_id"]
    assert len(store.t.parties) == len(store.t.cases) == 1


async def test_case_numbers_are_consecutive_across_batches_and_years() -> None:
    store = FakeRouterStore()
    a, b = await route(
        store, message(digid(bsn()), text="paspoort"), message(digid(bsn()), text="kliko")
    )
    (c,) = await route(store, message(digid(bsn()), text="paspoort"))
    (d,) = await route(
        store, message(digid(bsn()), text="paspoort"), now=datetime(2027, 1, 4, tzinfo=UTC)
    )
    numbers = [routed_data(r)["case_number"] for r in (a, b, c, d)]
    assert numbers == [
        case_number(2026, 1),
        case_number(2026, 2),
        case_number(2026, 3),
        case_number(2027, 1),
    ]


@pytest.mark.parametrize(
    ("text", "team", "confidential"),
    [
        ("Ik wil bijstand aanvragen", "werk-en-inkomen", True),
        ("Mijn kliko is niet geleegd", "afval", False),
        ("Goedemiddag", "kcc", False),
    ],
)
async def test_owner_and_confidentiality_of_a_new_case(
    text: str, team: str, confidential: bool
) -> None:
    store = FakeRouterStore()
    (routed,) = await route(store, message(digid(bsn()), text=text))
    opened = routed.events[1].data
    assert (opened["owner_team"], opened["confidential"]) == (team, confidential)


async def test_a_case_learns_its_product_and_becomes_confidential() -> None:
    store = FakeRouterStore()
    person = digid(bsn())
    thread = f"email:<{uuid.uuid4()}@mail>"
    (first,) = await route(store, message(person, text="Goedemiddag", refs=(thread,)))
    (routed,) = await route(store, message(person, text="Het gaat over bijstand", refs=(thread,)))
    assert types(routed) == ["case.classified", "message.routed"]
    case_id = uuid.UUID(str(routed_data(first)["case_id"]))
    assert (store.t.cases[case_id]["product"], store.t.cases[case_id]["confidential"]) == (
        "bijstand",
        True,
    )
    assert store.t.cases[case_id]["owner_team"] == "kcc", "the owner stays; a handover moves it"


async def test_quoting_another_partys_case_number_is_flagged_and_suggested() -> None:
    store = FakeRouterStore()
    (hers,) = await route(store, message(digid(bsn()), text="Mijn paspoort is verlopen"))
    number = routed_data(hers)["case_number"]
    (routed,) = await route(store, message(digid(bsn()), text="paspoort", case_number=str(number)))
    data = routed_data(routed)
    assert data["case_id"] != routed_data(hers)["case_id"]
    assert [f["kind"] for f in data["flags"]] == ["case-number-of-other-party"]
    assert "party.link-suggested" in types(routed)
    contact = next(
        c for c in store.t.contacts.values() if c["message_id"] == routed.message.message_id
    )
    assert contact["referenced_case_id"] == uuid.UUID(str(routed_data(hers)["case_id"]))


async def test_an_unknown_sender_is_recognised_by_the_address_it_sent_from() -> None:
    store = FakeRouterStore()
    sent = SenderIdentifier(
        kind=IdentifierKind.EMAIL, value=email(), trust=Trust.CLAIMED, evidence=Evidence.DMARC
    )
    (first,) = await route(store, message(sent, channel=Channel.EMAIL, text="paspoort"))
    (second,) = await route(store, message(sent, channel=Channel.EMAIL, text="paspoort"))
    assert first.events[0].data["provisional"] is True
    assert second.events[0].party.id == first.events[0].party.id
    assert types(second) == ["message.routed"]


async def test_a_message_naming_another_product_never_joins_the_open_case() -> None:
    # Issue #23: a counter visit "Rijbewijs verlengen" was filed into the resident's open
    # litter report by the recency rule.
    store = FakeRouterStore()
    person = digid(bsn())
    (litter,) = await route(store, message(person, text="Zwerfvuil in de bosjes bij de speeltuin"))
    (licence,) = await route(store, message(person, text="Rijbewijs verlengen"))
    assert routed_data(licence)["case_id"] != routed_data(litter)["case_id"]
    assert routed_data(licence)["owner_team"] == "burgerzaken"


@pytest.mark.parametrize(
    ("text", "joins"),
    [
        ("Zoals ik eerder schreef: er is nog niets gebeurd", True),
        ("Wat zijn de openingstijden van het gemeentehuis?", False),
    ],
)
async def test_without_a_product_only_a_follow_up_joins_the_recent_case(text, joins) -> None:
    store = FakeRouterStore()
    person = digid(bsn())
    (first,) = await route(store, message(person, text="Mijn kliko is niet geleegd"))
    (second,) = await route(store, message(person, text=text))
    data = routed_data(second)
    assert (data["case_id"] == routed_data(first)["case_id"]) is joins
    assert data["explanation"]["case_rule"] == ("open-case-recent" if joins else "new-case")
    assert data["owner_team"] == ("afval" if joins else "kcc")


async def test_low_confidence_goes_to_the_contact_centre_with_candidates() -> None:
    store = FakeRouterStore()
    (routed,) = await route(store, message(digid(bsn()), text="Waar kan ik parkeren?"))
    data = routed_data(routed)
    assert data["owner_team"] == "kcc"
    assert "candidates: parkeervergunning (parkeren)" in data["explanation"]["owner_detail"]


async def test_the_due_date_counts_from_when_the_resident_sent_it() -> None:
    store = FakeRouterStore()
    sent = message(digid(bsn()), text="Mijn paspoort is verlopen", channel=Channel.EMAIL)
    late = NOW + timedelta(days=9)  # routed a week and a half later (an outage, an import)
    (routed,) = await route(store, sent, now=late)
    opened = routed.events[1].data
    # E-mail: 2 working days from Monday 2 March, not from when the router got to it.
    assert opened["due_at"].startswith("2026-03-04")
