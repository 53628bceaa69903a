"""Who sent this? The identity trust ladder (design §4) as a pure decision.

- A message joins an existing party automatically only through an identifier the
  party holds *authenticated* or *verified*: a BSN or KvK number only when the message
  carries it authenticated too; an address (e-mail, phone, chat) the municipality
  verified for the party, from any message sent from that address.
- An unknown sender becomes a new provisional party; the same address writing
  again reaches that provisional party (its *origin*), and nothing more.
- A *claimed* identifier that belongs to another party yields a suggested link for
  a person to confirm, never a link: an unauthenticated e-mail quoting somebody's
  BSN must not reach that person's history.
- Identifiers of two different parties on one message: flagged as a possible
  duplicate, not merged.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field

from stdnum.nl import bsn

from shared.contracts import IdentifierKind, InboundMessage, SenderIdentifier, Trust

STRONG = frozenset({Trust.AUTHENTICATED, Trust.VERIFIED})
# Addresses a provisional party is recognised by when the same sender writes again.
ORIGIN_KINDS = (IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.CHAT)


@dataclass(frozen=True)
class Holding:
    """A party's link to an identifier, as the router's tables know it."""

    party_id: uuid.UUID
    kind: IdentifierKind
    value: str
    trust: Trust


@dataclass(frozen=True)
class Identification:
    party_id: uuid.UUID | None  # None: create a new party
    provisional: bool  # for a new party
    rule: str  # "strong-identifier" | "origin" | "new-party" | "new-provisional-party"
    new_identifiers: tuple[SenderIdentifier, ...] = ()
    suggestions: tuple[tuple[uuid.UUID, SenderIdentifier], ...] = ()
    duplicates: tuple[uuid.UUID, ...] = field(default=())


def origin_key(message: InboundMessage) -> str | None:
    """The address an unknown sender is recognised by next time, e.g. ``email:a@b.nl``."""
    for kind in ORIGIN_KINDS:
        for s in message.sender:
            if s.kind == kind:
                return f"{kind}:{s.value}"
    return None


@functools.lru_cache(maxsize=65_536)
def valid_bsn(value: str) -> bool:
    """The 11-proef (python-stdnum), remembered: the same residents write again."""
    return bool(bsn.is_valid(value))


def usable(identifier: SenderIdentifier) -> bool:
    """A BSN that fails the 11-proef identifies nobody: it is neither linked nor suggested."""
    if identifier.kind == IdentifierKind.BSN:
        return valid_bsn(identifier.value)
    return True


# 123456782, 1234.56.782 or 1234 56 782, not part of a longer number.
_NINE_DIGITS = re.compile(r"(?<!\d)(?<!\d\.)(\d{4})[ .]?(\d{2})[ .]?(\d{3})(?!\d)(?!\.\d)")


def quoted_bsns(message: InboundMessage) -> list[SenderIdentifier]:
    """BSNs quoted in subject or text (valid by the 11-proef): claims about *someone*, used
    only to suggest a link to the party that holds them, never to link or to store."""
    stated = {s.value for s in message.sender if s.kind == IdentifierKind.BSN}
    found: dict[str, SenderIdentifier] = {}
    for text in (message.subject or "", message.text):
        for match in _NINE_DIGITS.finditer(text):
            value = "".join(match.group(1, 2, 3))
            if value not in stated and value not in found and valid_bsn(value):
                found[value] = SenderIdentifier(
                    kind=IdentifierKind.BSN, value=value, trust=Trust.CLAIMED
                )
    return list(found.values())


def identify(
    message: InboundMessage,
    holdings: list[Holding],
    origin_party: uuid.UUID | None,
    quoted: list[SenderIdentifier] | None = None,
) -> Identification:
    """Decide the party of ``message``.

    ``holdings``: every party link to any identifier on the message (merged parties
    already resolved to their survivor). ``origin_party``: the provisional party first
    created by this message's origin address, if any.
    """
    sender = [s for s in message.sender if usable(s)]
    strong_on_message = [s for s in sender if s.trust in STRONG]
    strong_parties: list[uuid.UUID] = []
    for s in sender:
        for h in holdings:
            if h.kind != s.kind or h.value != s.value or h.trust not in STRONG:
                continue
            # A BSN or KvK number links only when the message itself carries it
            # authenticated; an address the municipality verified for a party links any
            # message from that address.
            if (s.trust in STRONG or h.kind in ORIGIN_KINDS) and h.party_id not in strong_parties:
                strong_parties.append(h.party_id)

    if strong_parties:
        party_id, rule = strong_parties[0], "strong-identifier"
    elif origin_party is not None and not strong_on_message:
        party_id, rule = origin_party, "origin"
    else:
        party_id = None
        rule = "new-party" if strong_on_message else "new-provisional-party"

    held_by_party = {(h.kind, h.value) for h in holdings if h.party_id == party_id}
    claimed_elsewhere: dict[uuid.UUID, SenderIdentifier] = {}
    new_identifiers: list[SenderIdentifier] = []
    for s in sender:
        others = [h.party_id for h in holdings if h.kind == s.kind and h.value == s.value]
        others = [p for p in others if p != party_id and p not in strong_parties]
        if s.trust in STRONG:
            # Parties that merely *claimed* this identifier may be this person.
            for other in others:
                claimed_elsewhere.setdefault(other, s)
            # A strong identifier already strongly held elsewhere stays there (the
            # possible duplicate below); otherwise it now belongs to this party.
            if (s.kind, s.value) not in held_by_party and not any(
                h.kind == s.kind and h.value == s.value and h.trust in STRONG for h in holdings
            ):
                new_identifiers.append(s)
            continue
        if (s.kind, s.value) not in held_by_party:
            new_identifiers.append(s)
        for other in others:
            claimed_elsewhere.setdefault(other, s)

    for q in quoted or ():
        for h in holdings:
            if h.kind == q.kind and h.value == q.value and h.party_id != party_id:
                claimed_elsewhere.setdefault(h.party_id, q)

    return Identification(
        party_id=party_id,
        provisional=party_id is None and not strong_on_message,
        rule=rule,
        new_identifiers=tuple(new_identifiers),
        suggestions=tuple(claimed_elsewhere.items()),
        duplicates=tuple(strong_parties[1:]),
    )
