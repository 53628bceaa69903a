"""The identity trust ladder (design §4) as pure logic, with the tricky cases."""

import uuid
from datetime import UTC, datetime

import pytest

from services.router.domain.identity import Holding, identify, origin_key, quoted_bsns
from shared.contracts import Channel, IdentifierKind, InboundMessage, SenderIdentifier, Trust

K, T = IdentifierKind, Trust
FATIMA = uuid.uuid4()  # known by her DigiD BSN
ANON = uuid.uuid4()  # a provisional party created by an e-mail address
BEDRIJF = uuid.uuid4()  # a business known by its KvK number (eHerkenning)

HOLDINGS = [
    Holding(FATIMA, K.BSN, "111222333", T.AUTHENTICATED),
    Holding(FATIMA, K.EMAIL, "fatima@example.nl", T.CLAIMED),
    Holding(ANON, K.EMAIL, "anon@example.nl", T.CLAIMED),
    Holding(BEDRIJF, K.KVK, "12345678", T.AUTHENTICATED),
]


def msg(*sender):
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=Channel.EMAIL,
        received_at=datetime.now(UTC),
        sender=[SenderIdentifier(kind=k, value=v, trust=t) for k, v, t in sender],
    )


def test_authenticated_bsn_links_automatically():
    d = identify(msg((K.BSN, "111222333", T.AUTHENTICATED)), HOLDINGS, None)
    assert (d.party_id, d.rule) == (FATIMA, "strong-identifier")
    assert d.suggestions == ()


def test_unauthenticated_email_quoting_a_bsn_only_suggests():
    """The headline rule: it must not reach her history."""
    m = msg((K.EMAIL, "stranger@example.org", T.CLAIMED), (K.BSN, "111222333", T.CLAIMED))
    d = identify(m, HOLDINGS, origin_party=None)
    assert d.party_id is None and d.provisional
    assert d.rule == "new-provisional-party"
    assert [(p, i.kind) for p, i in d.suggestions] == [(FATIMA, K.BSN)]


def test_same_unknown_address_writes_again():
    d = identify(msg((K.EMAIL, "anon@example.nl", T.CLAIMED)), HOLDINGS, origin_party=ANON)
    assert (d.party_id, d.rule) == (ANON, "origin")
    assert d.suggestions == () and d.new_identifiers == ()


def test_known_party_writing_from_their_claimed_address_is_not_linked_automatically():
    # Fatima's address is only *claimed*; a From: header can be forged.
    d = identify(msg((K.EMAIL, "fatima@example.nl", T.CLAIMED)), HOLDINGS, origin_party=None)
    assert d.party_id is None
    assert [p for p, _ in d.suggestions] == [FATIMA]


def test_two_identifiers_of_two_parties_flag_a_possible_duplicate():
    m = msg((K.BSN, "111222333", T.AUTHENTICATED), (K.KVK, "12345678", T.AUTHENTICATED))
    d = identify(m, HOLDINGS, None)
    assert d.party_id == FATIMA
    assert d.duplicates == (BEDRIJF,)
    assert d.new_identifiers == ()  # the KvK stays with the business


def test_new_authenticated_person_gets_a_non_provisional_party_and_keeps_new_identifiers():
    m = msg((K.BSN, "999999990", T.AUTHENTICATED), (K.PHONE, "+31612345678", T.CLAIMED))
    d = identify(m, HOLDINGS, None)
    assert d.party_id is None and not d.provisional and d.rule == "new-party"
    assert {i.kind for i in d.new_identifiers} == {K.BSN, K.PHONE}


def test_authenticated_identifier_claimed_earlier_by_a_provisional_party_suggests_a_link():
    holdings = [*HOLDINGS, Holding(ANON, K.BSN, "999999990", T.CLAIMED)]
    d = identify(msg((K.BSN, "999999990", T.AUTHENTICATED)), holdings, None)
    assert d.party_id is None
    assert [p for p, _ in d.suggestions] == [ANON]


def test_known_party_adds_a_new_claimed_phone():
    m = msg((K.BSN, "111222333", T.AUTHENTICATED), (K.PHONE, "+31687654321", T.CLAIMED))
    d = identify(m, HOLDINGS, None)
    assert d.party_id == FATIMA
    assert [i.value for i in d.new_identifiers] == ["+31687654321"]


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ([(K.PHONE, "+31612345678", T.CLAIMED), (K.EMAIL, "a@b.nl", T.CLAIMED)], "email:a@b.nl"),
        ([(K.CHAT, "sess-1", T.CLAIMED)], "chat:sess-1"),
        ([(K.BSN, "111222333", T.CLAIMED)], None),
    ],
)
def test_origin_key(sender, expected):
    assert origin_key(msg(*sender)) == expected


def test_a_bsn_failing_the_elfproef_identifies_nobody():
    m = msg((K.EMAIL, "x@example.org", T.CLAIMED), (K.BSN, "111222334", T.CLAIMED))
    d = identify(m, [*HOLDINGS, Holding(ANON, K.BSN, "111222334", T.CLAIMED)], None)
    assert d.suggestions == ()
    assert [i.kind for i in d.new_identifiers] == [K.EMAIL]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("mijn BSN is 111222333.", ["111222333"]),
        ("BSN 1112.22.333 graag", ["111222333"]),
        ("bsn: 1112 22 333", ["111222333"]),
        ("bel 0611122233311", []),  # part of a longer number
        ("kenmerk 111222334", []),  # fails the 11-proef
    ],
)
def test_quoted_bsns_in_free_text(text, found):
    m = msg((K.EMAIL, "x@example.org", T.CLAIMED))
    m = m.model_copy(update={"text": text})
    assert [i.value for i in quoted_bsns(m)] == found


def test_a_quoted_bsn_suggests_but_never_links():
    m = msg((K.EMAIL, "stranger@example.org", T.CLAIMED))
    d = identify(
        m, HOLDINGS, None, quoted=[SenderIdentifier(kind=K.BSN, value="111222333", trust=T.CLAIMED)]
    )
    assert d.party_id is None
    assert [p for p, _ in d.suggestions] == [FATIMA]
    assert all(i.kind != K.BSN for i in d.new_identifiers)


def test_a_verified_address_links_messages_from_it_but_a_claimed_bsn_never_does():
    verified = [*HOLDINGS, Holding(FATIMA, K.EMAIL, "fatima@example.nl", T.VERIFIED)]
    d = identify(msg((K.EMAIL, "fatima@example.nl", T.CLAIMED)), verified, None)
    assert (d.party_id, d.rule) == (FATIMA, "strong-identifier")
    d = identify(msg((K.BSN, "111222333", T.CLAIMED)), verified, None)
    assert d.party_id is None
