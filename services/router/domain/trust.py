"""Where trust comes from: the rung of an identifier on a message, from the channel's evidence.

The one place that decides it (docs/routing.md, "where trust comes from"). A value's
rung on a message comes from what the channel *proved* about it on that message —
never from the value itself, whatever rung the same value has elsewhere:

| evidence on the message                                          | rung          |
|------------------------------------------------------------------|---------------|
| DigiD / eHerkenning login, ID document at the counter (BSN, KvK), | authenticated |
|   asserted by an integration key allowed to assert logins         |               |
| e-mail ``From`` whose domain passed DMARC per a trusted gateway's  | sent-from     |
|   Authentication-Results, or DKIM verified by ingest (e-mail)      |               |
| caller ID the telephony marks network-verified (phone)            | sent-from     |
| verified in the old CRM, vouched for by the import's operator     | verified      |
| anything else: typed into a form, app, chat or letter, a body,    | claimed       |
|   a chat handle, an unauthenticated ``From``                       |               |

``sent-from`` may link the message to a party that holds the address *verified*;
``claimed`` never links and never joins an existing party or case by itself: at most
it suggests a link for a person to decide.
"""

from __future__ import annotations

from enum import StrEnum

from shared.contracts import Channel, Evidence, IdentifierKind, SenderIdentifier, Trust


class Rung(StrEnum):
    AUTHENTICATED = "authenticated"  # a login or ID check: links to who holds it strongly
    VERIFIED = "verified"  # the municipality's own earlier verification (import)
    SENT_FROM = "sent-from"  # the message provably came from this address
    CLAIMED = "claimed"  # stated by the sender: suggests, never links


# The evidence a staff decision gives an identifier (PartyIdentifier.evidence).
STAFF_CONFIRMED = "staff-confirmed"

# The evidence that can make an identifier authenticated, per kind (None: an event from
# before evidence existed, when only a key allowed to assert logins could set it).
_LOGINS: dict[IdentifierKind, frozenset[Evidence | None]] = {
    IdentifierKind.BSN: frozenset({None, Evidence.DIGID, Evidence.ID_DOCUMENT}),
    IdentifierKind.KVK: frozenset({None, Evidence.EHERKENNING}),
}
_IMPORTED: frozenset[Evidence | None] = frozenset({None, Evidence.CRM_IMPORT})
# The evidence that a message was sent from the address, per channel and kind.
_SENT_FROM = {
    (Channel.EMAIL, IdentifierKind.EMAIL): {Evidence.DMARC, Evidence.DKIM},
    (Channel.PHONE, IdentifierKind.PHONE): {Evidence.NETWORK_CALLER_ID},
}
# Identifiers that name a mailbox, line or handle (a message can be sent *from* them).
ADDRESS_KINDS = frozenset({IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.CHAT})


def rung(channel: Channel, identifier: SenderIdentifier, *, imported: bool = False) -> Rung:
    """The rung of ``identifier`` on a message of ``channel``.

    ``imported``: the message comes from ``eenloket import contacts`` (its operator may
    vouch for identifiers the old CRM verified). Events written before evidence existed
    keep their meaning: an ``authenticated`` BSN or KvK number was only ever set by ingest
    for a key allowed to assert logins, and an imported ``verified`` one by the operator.
    """
    evidence = identifier.evidence
    if identifier.trust == Trust.AUTHENTICATED and evidence in _LOGINS.get(identifier.kind, ()):
        return Rung.AUTHENTICATED
    if identifier.trust == Trust.VERIFIED and imported and evidence in _IMPORTED:
        return Rung.VERIFIED
    if evidence is not None and evidence in _SENT_FROM.get((channel, identifier.kind), ()):
        return Rung.SENT_FROM
    return Rung.CLAIMED


def stored_trust(r: Rung) -> Trust:
    """The trust the party keeps for an identifier first seen at rung ``r``: a message sent
    from an address does not make the address the party's own (staff verify that)."""
    if r == Rung.AUTHENTICATED:
        return Trust.AUTHENTICATED
    if r == Rung.VERIFIED:
        return Trust.VERIFIED
    return Trust.CLAIMED
