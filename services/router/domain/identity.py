"""Who sent this? The identity trust ladder (design §4) as a pure decision.

The rung of every identifier on the message comes from the channel's evidence alone
(``domain/trust.py``); then, in order:

- A message joins an existing party automatically only through evidence: an
  *authenticated* BSN or KvK number (login, ID check) that the party holds
  authenticated or verified, or an address the message was provably *sent from*
  (DMARC/DKIM, network-verified caller ID) that the party holds verified.
- Continuity without trust: an event of a conversation the channel asserts (a chat
  session, an app conversation, a call) belongs to the conversation's party; a message
  quoting its own case number, from an address the case's provisional party was known
  by, joins that party. Crossing to another party is only ever a suggestion.
- An unknown sender becomes a new provisional party; the same address writing again
  reaches that provisional party (its *origin*) only when the message was provably sent
  from it. A typed value joins nothing.
- A *claimed* identifier that belongs to another party yields a suggested link for a
  person to confirm, never a link: an unauthenticated e-mail quoting somebody's BSN, or a
  web form typing somebody's verified address, must not reach that person's history.
  One suggestion per typed value: to the parties holding it at a strong rung, else to
  the earliest party that typed it (linear in messages, not quadratic).
- Identifiers of two different parties on one message: flagged as a possible
  duplicate, not merged.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field

from stdnum.nl import bsn

from services.router.domain.trust import Rung, rung, stored_trust
from shared.contracts import IdentifierKind, InboundMessage, SenderIdentifier, Trust
from shared.contracts.outbound import REPLY_REF_PREFIX

STRONG = frozenset({Trust.AUTHENTICATED, Trust.VERIFIED})
# Rungs that make a party known (authenticated or verified on the message itself).
_KNOWN = frozenset({Rung.AUTHENTICATED, Rung.VERIFIED})
# Thread references a channel's integration asserts (the platform's own session,
# conversation or call id), unlike an e-mail's In-Reply-To that the sender writes. A reply's
# token (``reply:<token>``, REPLY_REF_PREFIX) is one too: an HMAC only its recipient received.
CONVERSATION_PREFIXES = ("chat:", "app:", "phone:", REPLY_REF_PREFIX)


@dataclass(frozen=True)
class Holding:
    """A party's link to an identifier, as the router's tables know it."""

    party_id: uuid.UUID
    kind: IdentifierKind
    value: str
    trust: Trust
    # The party is provisional and not merged: known only by what it sent.
    provisional: bool = False


@dataclass(frozen=True)
class QuotedCase:
    """The case whose number a message quotes, and what identification needs of its party."""

    party_id: uuid.UUID
    provisional: bool  # the party is provisional and not merged into another


@dataclass(frozen=True)
class Identification:
    party_id: uuid.UUID | None  # None: create a new party
    provisional: bool  # for a new party
    # "strong-identifier" | "conversation" | "own-case-number" | "origin" | "new-party"
    # | "new-provisional-party"
    rule: str
    new_identifiers: tuple[SenderIdentifier, ...] = ()
    suggestions: tuple[tuple[uuid.UUID, SenderIdentifier], ...] = ()
    duplicates: tuple[uuid.UUID, ...] = field(default=())


# A message's usable identifiers with their rungs (``effective_sender``).
Sender = list[tuple[SenderIdentifier, Rung]]


def imported(message: InboundMessage) -> bool:
    return any(ref.startswith("import:") for ref in message.thread_refs)


def effective_sender(message: InboundMessage) -> Sender:
    """The message's usable identifiers, each with its rung and the trust a party keeps
    for it (``SenderIdentifier.trust`` rewritten from the rung: ingest's word is not
    enough)."""
    was_imported = imported(message)
    out = []
    for s in message.sender:
        if not usable(s):
            continue
        r = rung(message.channel, s, imported=was_imported)
        out.append((s.model_copy(update={"trust": stored_trust(r)}), r))
    return out


def origin_key(message: InboundMessage, sender: Sender | None = None) -> str | None:
    """The address an unknown sender is recognised by next time, ``sent:email:a@b.nl``:
    only an address the message was provably sent from (a typed one joins nothing).
    ``sender``: the message's ``effective_sender`` if the caller has it already."""
    for s, r in effective_sender(message) if sender is None else sender:
        if r == Rung.SENT_FROM:
            return f"sent:{s.kind}:{s.value}"
    return None


def conversation_refs(message: InboundMessage) -> list[str]:
    return [r for r in message.thread_refs if r.startswith(CONVERSATION_PREFIXES)]


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


def _suggested_for_claim(
    claim: SenderIdentifier, holdings: list[Holding], exclude: set[uuid.UUID | None]
) -> list[uuid.UUID]:
    """The parties a *typed* value suggests a link to: every party holding it at a strong
    rung (the person it proves) or known by evidence (a resident who stated it; a family
    address has several); if none, only the earliest *provisional* party that typed it
    too (ids are time-ordered). Not every earlier claimant: an address typed into ten web
    forms would otherwise ask a person to decide 45 pairs instead of 9, and confirming each
    newcomer to the first gathers them all the same."""
    holders = [
        h
        for h in holdings
        if h.kind == claim.kind and h.value == claim.value and h.party_id not in exclude
    ]
    known = [h.party_id for h in holders if h.trust in STRONG or not h.provisional]
    if known:
        return list(dict.fromkeys(known))
    return [min(h.party_id for h in holders)] if holders else []


def identify(
    message: InboundMessage,
    holdings: list[Holding],
    origin_party: uuid.UUID | None,
    quoted: list[SenderIdentifier] | None = None,
    *,
    conversation_party: uuid.UUID | None = None,
    quoted_case: QuotedCase | None = None,
    sender: Sender | None = None,
) -> Identification:
    """Decide the party of ``message``.

    ``holdings``: every party link to any identifier on the message (merged parties
    already resolved to their survivor). ``origin_party``: the provisional party first
    created from the address this message was provably sent from, if any.
    ``conversation_party``: the party of the channel-asserted conversation (chat session,
    app conversation, call) the message belongs to. ``quoted_case``: the case whose number
    the message quotes. ``sender``: the message's ``effective_sender``, if already known.
    """
    sender = effective_sender(message) if sender is None else sender
    known_on_message = [s for s, r in sender if r in _KNOWN]
    strong_parties: list[uuid.UUID] = []
    for s, r in sender:
        if r == Rung.CLAIMED:
            continue  # a typed value never links, whatever rung it has elsewhere
        for h in holdings:
            if h.kind != s.kind or h.value != s.value or h.trust not in STRONG:
                continue
            if h.party_id not in strong_parties:
                strong_parties.append(h.party_id)

    own_case = (
        quoted_case.party_id
        if quoted_case is not None
        and quoted_case.provisional
        and any(
            h.party_id == quoted_case.party_id and (h.kind, h.value) == (s.kind, s.value)
            for s, _ in sender
            for h in holdings
        )
        else None
    )
    if strong_parties:
        party_id, rule = strong_parties[0], "strong-identifier"
    elif conversation_party is not None and not known_on_message:
        party_id, rule = conversation_party, "conversation"
    elif own_case is not None and not known_on_message:
        party_id, rule = own_case, "own-case-number"
    elif origin_party is not None and not known_on_message:
        party_id, rule = origin_party, "origin"
    else:
        party_id = None
        rule = "new-party" if known_on_message else "new-provisional-party"

    held_by_party = {(h.kind, h.value) for h in holdings if h.party_id == party_id}
    claimed_elsewhere: dict[uuid.UUID, SenderIdentifier] = {}
    new_identifiers: list[SenderIdentifier] = []
    for s, r in sender:
        others = [h.party_id for h in holdings if h.kind == s.kind and h.value == s.value]
        others = [p for p in others if p != party_id and p not in strong_parties]
        if r in _KNOWN:
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
        for other in _suggested_for_claim(s, holdings, exclude={party_id, *strong_parties}):
            claimed_elsewhere.setdefault(other, s)

    for q in quoted or ():
        for other in _suggested_for_claim(q, holdings, exclude={party_id}):
            claimed_elsewhere.setdefault(other, q)

    return Identification(
        party_id=party_id,
        provisional=party_id is None and not known_on_message,
        rule=rule,
        new_identifiers=tuple(new_identifiers),
        suggestions=tuple(claimed_elsewhere.items()),
        duplicates=tuple(strong_parties[1:]),
    )
