"""The identity trust ladder (design §4) as pure logic, with the tricky cases."""

import uuid
from datetime import UTC, datetime

import pytest

from services.router.domain.identity import (
    Holding,
    QuotedCase,
    conversation_refs,
    identify,
    origin_key,
    quoted_bsns,
)
from shared.contracts import (
    Channel,
    Evidence,
    IdentifierKind,
    InboundMessage,
    SenderIdentifier,
    Trust,
)
from shared.ids import new_id

K, T, E = IdentifierKind, Trust, Evidence
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
    d = identify(sent(K.EMAIL, "anon@example.nl", E.DMARC), HOLDINGS, origin_party=ANON)
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


def sent(kind, value, evidence, channel=Channel.EMAIL):
    """A message on ``channel`` whose ``kind`` identifier carries the channel's ``evidence``."""
    return InboundMessage(
        message_id=uuid.uuid4(),
        channel=channel,
        received_at=datetime.now(UTC),
        sender=[SenderIdentifier(kind=kind, value=value, trust=T.CLAIMED, evidence=evidence)],
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (sent(K.EMAIL, "a@b.nl", E.DMARC), "sent:email:a@b.nl"),
        (
            sent(K.PHONE, "+31612345678", E.NETWORK_CALLER_ID, Channel.PHONE),
            "sent:phone:+31612345678",
        ),
        # Typed values are recognised by nothing: an unauthenticated From, a chat handle.
        (msg((K.PHONE, "+31612345678", T.CLAIMED), (K.EMAIL, "a@b.nl", T.CLAIMED)), None),
        (msg((K.CHAT, "sess-1", T.CLAIMED)), None),
        (msg((K.BSN, "111222333", T.CLAIMED)), None),
    ],
)
def test_origin_key(message, expected):
    assert origin_key(message) == expected


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


def test_a_verified_address_links_messages_sent_from_it_but_never_a_typed_one():
    verified = [*HOLDINGS, Holding(FATIMA, K.EMAIL, "fatima@example.nl", T.VERIFIED)]
    d = identify(sent(K.EMAIL, "fatima@example.nl", E.DMARC), verified, None)
    assert (d.party_id, d.rule) == (FATIMA, "strong-identifier")
    # The same address as an unauthenticated From: a new provisional party, a suggestion.
    d = identify(msg((K.EMAIL, "fatima@example.nl", T.CLAIMED)), verified, None)
    assert (d.party_id, d.rule) == (None, "new-provisional-party")
    assert [p for p, _ in d.suggestions] == [FATIMA]
    d = identify(msg((K.BSN, "111222333", T.CLAIMED)), verified, None)
    assert d.party_id is None


def test_a_claimed_origin_joins_nothing():
    """The origin rule one rung lower: a typed address that created a provisional party
    does not bring the next message with that address into it."""
    d = identify(msg((K.EMAIL, "anon@example.nl", T.CLAIMED)), HOLDINGS, origin_party=None)
    assert (d.party_id, d.rule) == (None, "new-provisional-party")
    assert [p for p, _ in d.suggestions] == [ANON]


def test_ingest_cannot_declare_an_address_verified():
    """``trust=verified`` from a channel without evidence is a claim like any other."""
    verified = [*HOLDINGS, Holding(FATIMA, K.EMAIL, "fatima@example.nl", T.VERIFIED)]
    d = identify(msg((K.EMAIL, "fatima@example.nl", T.VERIFIED)), verified, None)
    assert d.party_id is None
    assert all(i.trust == T.CLAIMED for i in d.new_identifiers)


def test_a_chat_event_without_visitor_belongs_to_its_session():
    m = InboundMessage(
        message_id=uuid.uuid4(),
        channel=Channel.CHAT,
        received_at=datetime.now(UTC),
        thread_refs=["chat:s-1"],
    )
    d = identify(m, HOLDINGS, None, conversation_party=ANON)
    assert (d.party_id, d.rule) == (ANON, "conversation")
    # A login on the message decides instead of the conversation.
    m2 = m.model_copy(update={"sender": msg((K.BSN, "111222333", T.AUTHENTICATED)).sender})
    assert identify(m2, HOLDINGS, None, conversation_party=ANON).party_id == FATIMA


def test_an_answer_to_a_reply_belongs_to_the_replys_party_whatever_its_from_says():
    """``antwoord+<token>@…``: the token is an HMAC only the reply's recipient received, so
    the answer is the reply's conversation (like a chat session), not a claim of its From."""
    answer = msg((K.EMAIL, "nieuw-adres@example.org", T.CLAIMED)).model_copy(
        update={"thread_refs": ["email:<a1@example.org>", "reply:abc123"]}
    )
    assert conversation_refs(answer) == ["reply:abc123"]
    d = identify(answer, HOLDINGS, None, conversation_party=FATIMA)
    assert (d.party_id, d.rule) == (FATIMA, "conversation")
    # The unknown From address is only stated: the party learns it as claimed.
    assert [(i.value, i.trust) for i in d.new_identifiers] == [
        ("nieuw-adres@example.org", T.CLAIMED)
    ]


def test_own_case_number_from_the_same_address_joins_a_provisional_party_only():
    letter = msg((K.POSTAL_ADDRESS, "Dorpsstraat 1, Tilburg", T.CLAIMED))
    holdings = [*HOLDINGS, Holding(ANON, K.POSTAL_ADDRESS, "Dorpsstraat 1, Tilburg", T.CLAIMED)]
    d = identify(letter, holdings, None, quoted_case=QuotedCase(ANON, provisional=True))
    assert (d.party_id, d.rule) == (ANON, "own-case-number")
    # Another address quoting the number: not continuity, a new party.
    other = msg((K.POSTAL_ADDRESS, "Kerkstraat 2, Breda", T.CLAIMED))
    d = identify(other, holdings, None, quoted_case=QuotedCase(ANON, provisional=True))
    assert d.party_id is None
    # An established party's case (typed address + a guessable number): only a suggestion.
    holdings = [*HOLDINGS, Holding(FATIMA, K.POSTAL_ADDRESS, "Dorpsstraat 1, Tilburg", T.CLAIMED)]
    d = identify(letter, holdings, None, quoted_case=QuotedCase(FATIMA, provisional=False))
    assert d.party_id is None
    assert [p for p, _ in d.suggestions] == [FATIMA]


def test_a_value_typed_again_and_again_suggests_one_link_not_one_per_earlier_claimant():
    """Ten web forms with the same typed address: each newcomer is suggested to the first
    claimant only (ids are time-ordered), so a person decides 9 pairs, not 45."""
    claimants = [new_id() for _ in range(4)]
    holdings = [
        Holding(p, K.EMAIL, "vaak@example.nl", T.CLAIMED, provisional=True)
        for p in reversed(claimants)
    ]
    d = identify(msg((K.EMAIL, "vaak@example.nl", T.CLAIMED)), holdings, None)
    assert [p for p, _ in d.suggestions] == [claimants[0]]
    # Residents known by evidence who stated it (a family address) are each suggested.
    peter, anna = new_id(), new_id()
    family = [
        *holdings,
        Holding(anna, K.EMAIL, "vaak@example.nl", T.CLAIMED),
        Holding(peter, K.EMAIL, "vaak@example.nl", T.CLAIMED),
    ]
    d = identify(msg((K.EMAIL, "vaak@example.nl", T.CLAIMED)), family, None)
    assert sorted(p for p, _ in d.suggestions) == sorted([anna, peter])
    # A party holding it at a strong rung is the one it is suggested to, whoever came first.
    verified = [*holdings, Holding(FATIMA, K.EMAIL, "vaak@example.nl", T.VERIFIED)]
    d = identify(msg((K.EMAIL, "vaak@example.nl", T.CLAIMED)), verified, None)
    assert [p for p, _ in d.suggestions] == [FATIMA]
    # A quoted BSN follows the same rule.
    quoted = [SenderIdentifier(kind=K.BSN, value="111222333", trust=T.CLAIMED)]
    typed = [Holding(p, K.BSN, "111222333", T.CLAIMED, provisional=True) for p in claimants]
    d = identify(msg((K.EMAIL, "x@example.nl", T.CLAIMED)), [*typed, *HOLDINGS], None, quoted)
    assert [p for p, _ in d.suggestions] == [FATIMA]
