"""Routing inbound messages: identify the party, match or open the case, assign the owner,
and say which events to publish.

Messages are routed a batch at a time: the state they need is read in a handful of
queries, decided in memory (later messages of the batch see what earlier ones
created), and written back in bulk. The decisions themselves are the pure functions of
``domain/``; this module feeds them from a ``RouterStore`` and returns, per message, the
events to record. Kafka (decoding, spans, trace context, metrics) is ``handlers.py``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.router.domain.identity import (
    Holding,
    QuotedCase,
    Sender,
    conversation_refs,
    effective_sender,
    identify,
    origin_key,
    quoted_bsns,
)
from services.router.domain.model import (
    Case,
    CaseMatch,
    Party,
    imported_case,
    match_case,
    owner_for_new_case,
    quoted_case_number,
)
from services.router.events import (
    PendingEvent,
    case_classified_json,
    case_opened_json,
    message_routed_json,
)
from services.router.routing.rules import ProductMatch, Routing
from services.router.store.protocol import NewIdentifier, RouterStore, contact_row
from shared.contracts import (
    CaseClassified,
    CaseOpened,
    CaseStatus,
    Event,
    InboundMessage,
    LinkSuggested,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    PartyIdentifierAdded,
    PossibleDuplicateFlagged,
    SenderIdentifier,
)
from shared.ids import new_id


@dataclass(frozen=True)
class Routed:
    """One message's outcome: its events in order, and what the metrics count."""

    message: InboundMessage
    events: list[PendingEvent]
    # (case rule, owner rule, owning team): the router's "messages routed" counter.
    labels: tuple[str, str, str]
    suggested_links: int
    duplicates_flagged: int


def _ident(i: SenderIdentifier) -> PartyIdentifier:
    evidence = i.evidence.value if i.evidence is not None else None
    return PartyIdentifier(kind=i.kind, value=i.value, trust=i.trust, evidence=evidence)


@dataclass
class _State:
    """What the batch knows: loaded from the store, then updated as messages are routed."""

    holdings: dict[tuple[str, str], list[Holding]] = field(default_factory=dict)
    origins: dict[str, uuid.UUID] = field(default_factory=dict)
    # Channel-asserted conversation (chat session, app conversation, call) -> its party.
    conversations: dict[str, uuid.UUID] = field(default_factory=dict)
    # Parties of quoted cases that are provisional and not merged (own-case continuity).
    provisional: set[uuid.UUID] = field(default_factory=set)
    parties: dict[uuid.UUID, Party] = field(default_factory=dict)
    new_parties: list[dict[str, Any]] = field(default_factory=list)
    new_identifiers: list[NewIdentifier] = field(default_factory=list)
    suggested: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    new_suggestions: list[dict[str, Any]] = field(default_factory=list)
    family: dict[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)
    cases: dict[uuid.UUID, Case] = field(default_factory=dict)
    new_cases: dict[uuid.UUID, datetime | None] = field(default_factory=dict)  # id -> due_at
    touched_cases: set[uuid.UUID] = field(default_factory=set)
    thread_refs: dict[str, uuid.UUID] = field(default_factory=dict)
    new_refs: dict[str, uuid.UUID] = field(default_factory=dict)
    reclassified: dict[uuid.UUID, tuple[str | None, bool]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    by_party: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)
    by_number: dict[str, uuid.UUID] = field(default_factory=dict)

    def held(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        return [h for s in identifiers for h in self.holdings.get((s.kind.value, s.value), [])]

    def hold(self, party_id: uuid.UUID, identifier: SenderIdentifier, *, provisional: bool) -> None:
        holding = Holding(
            party_id, identifier.kind, identifier.value, identifier.trust, provisional
        )
        self.holdings.setdefault((identifier.kind.value, identifier.value), []).append(holding)

    def put_case(self, case: Case) -> None:
        self.cases[case.id] = case
        self.by_party.setdefault(case.party_id, set()).add(case.id)
        if case.number:
            self.by_number[case.number] = case.id

    def cases_of(self, party_ids: Iterable[uuid.UUID]) -> list[Case]:
        return [self.cases[c] for p in party_ids for c in self.by_party.get(p, ())]


@dataclass
class _Identified:
    """Who sent a message, and the party-level events that decided (created, identifier
    added, suggestions, duplicates); matching may add a suggestion."""

    message: InboundMessage
    party_id: uuid.UUID
    party_events: list[Event]
    duplicates: int


@dataclass(frozen=True)
class _Matched:
    """Which case a message joined (a new case is in ``_State.new_cases``)."""

    identified: _Identified
    case_id: uuid.UUID
    match: CaseMatch
    product: ProductMatch
    reclassified: bool


async def route_messages(
    store: RouterStore, messages: list[InboundMessage], routing: Routing, now: datetime
) -> list[Routed]:
    """Route a batch of inbound messages (in the caller's transaction) as of ``now``: the
    store's state is updated, and each message's events are returned, in message order."""
    if not messages:
        return []
    state = _State()
    quoted = {m.message_id: quoted_bsns(m) for m in messages}
    senders = [effective_sender(m) for m in messages]  # each message's rungs, decided once
    origins = [origin_key(m, s) for m, s in zip(messages, senders, strict=True)]
    await _load(store, state, messages, quoted, origins)

    # Identify every message in order (trust ladder, domain/identity.py).
    identified = [
        _identify(m, state, now, quoted[m.message_id], sender, origin)
        for m, sender, origin in zip(messages, senders, origins, strict=True)
    ]

    # Lock the existing parties involved, in id order (replicas lock alike: no deadlock),
    # and read their cases and their merged-in parties.
    existing = sorted({i.party_id for i in identified} - {p["id"] for p in state.new_parties})
    state.parties.update(await store.lock_parties(existing))
    state.family.update(await store.families(existing))
    all_family = {p for f in state.family.values() for p in f} | set(existing)
    # Only open cases can take a message by the party/product rule (domain/model.py); quoted
    # numbers and thread references found closed ones in _load.
    for case in await store.cases_of(all_family, open_only=True):
        state.put_case(case)

    # Match each message to a case (domain/model.py) and route new cases.
    matched = [_match(i, state, routing, now) for i in identified]

    # Write; the year's case-number counter stays locked until commit, so it is taken as
    # late as possible (replicas queue on it), but before the events that carry numbers.
    await store.insert_parties(state.new_parties)
    await store.insert_identifiers(state.new_identifiers, now=now)
    published = await store.insert_suggestions(state.new_suggestions)
    await store.touch_cases(state.touched_cases - set(state.new_cases), now)
    await store.classify_cases(state.reclassified)
    if state.new_cases:
        numbers = await store.next_case_numbers(now.year, len(state.new_cases))
        for case_id, number in zip(state.new_cases, numbers, strict=True):
            state.put_case(replace(state.cases[case_id], number=number))
    await store.insert_cases([state.cases[c] for c in state.new_cases], state.new_cases)
    await store.insert_thread_refs(state.new_refs)
    await store.insert_contacts(state.contacts)
    return [_events(m, state, routing, published) for m in matched]


async def _load(
    store: RouterStore,
    state: _State,
    messages: list[InboundMessage],
    quoted: dict[uuid.UUID, list[SenderIdentifier]],
    origin_keys: list[str | None],
) -> None:
    """What identification needs: who holds these identifiers, which provisional parties
    these addresses created; and continuity without trust: the cases of quoted numbers
    and of thread references (a conversation's party; a quoted case's party when
    provisional)."""
    wanted = [s for m in messages for s in [*m.sender, *quoted[m.message_id]]]
    for h in await store.holdings(wanted):
        state.holdings.setdefault((h.kind.value, h.value), []).append(h)
    state.origins.update(await store.parties_by_origin({o for o in origin_keys if o}))
    numbers = {n for m in messages if (n := quoted_case_number(m))}
    for case in await store.cases_by_numbers(numbers):
        state.put_case(case)
    refs = {ref for m in messages for ref in m.thread_refs}
    conversations = {r for m in messages for r in conversation_refs(m)}
    threaded = await store.cases_by_refs(refs)
    for ref, case in threaded.items():
        state.put_case(case)
        state.thread_refs[ref] = case.id
    owners = await store.survivors(c.party_id for r, c in threaded.items() if r in conversations)
    for ref, case in threaded.items():
        if ref in conversations:
            state.conversations[ref] = owners[case.party_id]
    state.provisional = await store.unmerged_provisional(
        state.cases[state.by_number[n]].party_id for n in numbers if n in state.by_number
    )


def _identify(
    message: InboundMessage,
    state: _State,
    now: datetime,
    quoted: list[SenderIdentifier],
    sender: Sender,
    origin: str | None,
) -> _Identified:
    held = state.held(message.sender) + state.held(quoted)
    conversation = next(
        (state.conversations[r] for r in conversation_refs(message) if r in state.conversations),
        None,
    )
    number = quoted_case_number(message)
    quoted_case = None
    if number in state.by_number:
        owner = state.cases[state.by_number[number]].party_id
        quoted_case = QuotedCase(owner, provisional=owner in state.provisional)
    decision = identify(
        message,
        held,
        state.origins.get(origin) if origin else None,
        quoted,
        conversation_party=conversation,
        quoted_case=quoted_case,
        sender=sender,
    )
    party_events: list[Event] = []
    if decision.party_id is None:
        party_id = new_id()
        state.new_parties.append(
            {
                "id": party_id,
                "provisional": decision.provisional,
                "display_name": message.display_name,
                "origin": origin if decision.provisional else None,
                "version": 0,
                "created_at": now,
            }
        )
        state.parties[party_id] = Party(id=party_id, provisional=decision.provisional, version=0)
        state.family[party_id] = frozenset({party_id})
        if decision.provisional and origin:
            state.origins[origin] = party_id
        party_events.append(
            PartyCreated(
                party_id=party_id,
                provisional=decision.provisional,
                display_name=message.display_name,
                identifiers=[_ident(i) for i in decision.new_identifiers],
                created_at=now,
            )
        )
    else:
        party_id = decision.party_id
        party_events += [
            PartyIdentifierAdded(
                party_id=party_id,
                identifier=_ident(i),
                source_message_id=message.message_id,
                at=now,
            )
            for i in decision.new_identifiers
        ]
    for ref in conversation_refs(message):
        state.conversations.setdefault(ref, party_id)
    # Whether the party is known only by what it sent (the suggestion rule asks).
    provisional = (
        decision.provisional
        if decision.party_id is None
        else decision.rule in ("origin", "own-case-number")
        or any(h.provisional for h in held if h.party_id == party_id)
    )
    for identifier in decision.new_identifiers:
        state.hold(party_id, identifier, provisional=provisional)
        state.new_identifiers.append((party_id, identifier, message.message_id))
    identified = _Identified(message, party_id, party_events, len(decision.duplicates))
    for other, identifier in decision.suggestions:
        _suggest(identified, state, other, identifier, now)
    party_events += [
        PossibleDuplicateFlagged(
            party_id=party_id, other_party_id=other, message_id=message.message_id, at=now
        )
        for other in decision.duplicates
    ]
    return identified


def _suggest(
    identified: _Identified,
    state: _State,
    other: uuid.UUID,
    identifier: SenderIdentifier,
    now: datetime,
) -> None:
    """A suggested link, once per pair (published only if the pair is new to the store)."""
    party_id, message_id = identified.party_id, identified.message.message_id
    if (party_id, other) in state.suggested:
        return
    state.suggested.add((party_id, other))
    suggestion_id = new_id()
    state.new_suggestions.append(
        {
            "id": suggestion_id,
            "party_id": party_id,
            "suggested_party_id": other,
            "kind": identifier.kind.value,
            "value": identifier.value,
            "trust": identifier.trust.value,
            "message_id": message_id,
            "status": "pending",
            "created_at": now,
        }
    )
    identified.party_events.append(
        LinkSuggested(
            suggestion_id=suggestion_id,
            party_id=party_id,
            suggested_party_id=other,
            identifier=_ident(identifier),
            message_id=message_id,
            at=now,
        )
    )


def _match(identified: _Identified, state: _State, routing: Routing, now: datetime) -> _Matched:
    message, party_id = identified.message, identified.party_id
    family = state.family.get(party_id, frozenset({party_id}))
    product = routing.classify(
        hint=message.product_hint, text=f"{message.subject or ''}\n{message.text}"
    )
    number = quoted_case_number(message)
    quoted = state.cases[state.by_number[number]] if number in state.by_number else None
    threaded = {state.thread_refs[r] for r in message.thread_refs if r in state.thread_refs}
    # Imported history keeps its own dates; a live contact happens now.
    imported = imported_case(message)
    at = message.received_at if imported else now
    match = match_case(
        party_ids=family,
        quoted=quoted,
        quoted_number=number,
        threaded=[state.cases[c] for c in threaded],
        party_cases=state.cases_of(family),
        product=product.product.upl if product.product else None,
        now=now,
        window_days=routing.spec.case_window_days,
        establishment=message.establishment,
        own_case=imported,
        follow_up=product.product is None
        and routing.reads_as_follow_up(message.subject, message.text),
        candidates=product.candidate_products if product.product is None else (),
    )
    reclassified = False
    case = match.case
    if case is None:
        owner = owner_for_new_case(message, routing.owner_of(product.product), routing.teams)
        case = Case(
            id=new_id(),
            number="",  # numbered for the whole batch in one statement, before its events
            party_id=party_id,
            product=product.product.upl if product.product else None,
            status=(imported and message.case_status_hint) or CaseStatus.OPEN.value,
            owner_team=owner,
            opened_at=at,
            last_activity_at=at,
            establishment=message.establishment,
            confidential=bool(product.product and product.product.confidential)
            or owner in routing.spec.confidential_teams,
        )
        # The norm counts from when the resident sent it (the channel's timestamp), not
        # from when the router got to it; a timestamp ahead of receipt counts from receipt.
        state.new_cases[case.id] = routing.due_at(
            start=message.received_at,
            channel=message.channel,
            product=product.product,
            received=now,
        )
    else:
        case = replace(case, last_activity_at=max(at, case.last_activity_at))
        state.touched_cases.add(case.id)
        known = product.product
        if known is not None and (
            case.product is None or (known.confidential and not case.confidential)
        ):
            # The case learns its product, or becomes confidential; never less confidential.
            case = replace(
                case,
                product=case.product or known.upl,
                confidential=case.confidential or known.confidential,
            )
            state.reclassified[case.id] = (case.product, case.confidential)
            reclassified = True
    state.put_case(case)
    for ref in message.thread_refs:
        if ref not in state.thread_refs:
            state.thread_refs[ref] = case.id
            state.new_refs[ref] = case.id
    if match.referenced is not None and message.sender:
        # Quoting another party's case number (or replying in its thread) is a claim to be
        # that party: suggest the link, so a person can confirm it (and fold this contact).
        other = state.cases[match.referenced].party_id
        if other not in family:
            _suggest(identified, state, other, message.sender[0], now)
    state.contacts.append(contact_row(message, case.id, match.referenced))
    return _Matched(identified, case.id, match, product, reclassified)


def _owner_rule(matched: _Matched, case: Case) -> tuple[str, str]:
    """Why the case has its owning team: (rule, explanation)."""
    if matched.match.case is not None:
        return "existing-owner", f"the case keeps its owning team ({case.owner_team})"
    if matched.identified.message.owner_team_hint == case.owner_team:
        return "imported-owner", f"the old CRM's owning team ({case.owner_team}) keeps the case"
    product = matched.product
    if product.product is None and product.candidates:
        return (
            "default-owner",
            f"not sure enough of a product; the contact centre ({case.owner_team}) owns it; "
            f"candidates: {'; '.join(product.candidates)}",
        )
    if product.product is None:
        return (
            "default-owner",
            f"no product recognised; the contact centre ({case.owner_team}) owns it",
        )
    matched_words = ", ".join(product.matched)
    also = f" (also named: {'; '.join(product.candidates)})" if product.candidates else ""
    return (
        f"product:{product.product.upl}",
        f"{product.rule}: {matched_words} → {case.owner_team}{also}",
    )


def _events(
    matched: _Matched, state: _State, routing: Routing, published: set[uuid.UUID]
) -> Routed:
    """The message's events, in order. A suggestion whose pair the store knew already is
    not published again."""
    identified = matched.identified
    message = identified.message
    party = state.parties[identified.party_id]
    events: list[PendingEvent] = []
    suggested = 0
    for payload in identified.party_events:
        if isinstance(payload, LinkSuggested):
            if payload.suggestion_id not in published:
                continue
            suggested += 1
        events.append(PendingEvent.of(party, payload))
    case = state.cases[matched.case_id]
    owner_rule, owner_detail = _owner_rule(matched, case)
    if matched.match.case is None:
        opened = case_opened_json(case, case.number, state.new_cases[case.id])
        events.append(PendingEvent(party, CaseOpened.TYPE, opened, "case"))
    if matched.reclassified:
        classified = case_classified_json(case, message)
        events.append(PendingEvent(party, CaseClassified.TYPE, classified, "case"))
    explanation = {
        "case_rule": matched.match.rule,
        "case_detail": matched.match.detail,
        "owner_rule": owner_rule,
        "owner_detail": owner_detail,
        "ruleset_version": routing.version,
        "matched": list(matched.product.matched),
    }
    routed = message_routed_json(
        message,
        party_id=party.id,
        case=case,
        number=case.number,
        explanation=explanation,
        flags=matched.match.flags,
    )
    events.append(PendingEvent(party, MessageRouted.TYPE, routed))
    return Routed(
        message=message,
        events=events,
        labels=(matched.match.rule, owner_rule.split(":")[0], case.owner_team),
        suggested_links=suggested,
        duplicates_flagged=identified.duplicates,
    )
