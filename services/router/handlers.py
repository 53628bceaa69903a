"""Routing inbound messages: identify the party, match or open the case, assign the owner,
and publish the history (via the outbox).

Messages are routed a batch at a time: the state they need is read in a handful of
queries, decided in memory (later messages of the batch see what earlier ones
created), and written back in bulk. The decisions themselves are the pure
functions of ``domain/``; this module only feeds them and records the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import (
    Holding,
    QuotedCase,
    conversation_refs,
    identify,
    origin_key,
    quoted_bsns,
)
from services.router.domain.model import (
    Case,
    Party,
    imported_case,
    match_case,
    owner_for_new_case,
    quoted_case_number,
)
from services.router.history import History
from services.router.repository import Repository
from services.router.routing.rules import ProductMatch, Routing
from shared.contracts import (
    CaseClassified,
    CaseOpened,
    InboundMessage,
    LinkSuggested,
    MessageReceived,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    PartyIdentifierAdded,
    PossibleDuplicateFlagged,
    SenderIdentifier,
)
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.kafka.consumer import record_span
from shared.kafka.records import Record

ROUTED = Counter(
    "eenloket_router_messages_routed_total",
    "Messages routed, by case rule, owner rule and owning team",
    ["case_rule", "owner_rule", "team"],
)
SUGGESTED_LINKS = Counter("eenloket_router_links_suggested_total", "Suggested identity links made")
DUPLICATES_FLAGGED = Counter(
    "eenloket_router_duplicates_flagged_total", "Messages carrying identifiers of two parties"
)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class RouterContext:
    source: str
    timeline_topic: str
    routing: Routing
    group: str = "eenloket-router"


def _ident(i: SenderIdentifier) -> PartyIdentifier:
    evidence = i.evidence.value if i.evidence is not None else None
    return PartyIdentifier(kind=i.kind, value=i.value, trust=i.trust, evidence=evidence)


@dataclass
class _State:
    """What the batch knows: loaded from the database, then updated as messages are routed."""

    holdings: dict[tuple[str, str], list[Holding]] = field(default_factory=dict)
    origins: dict[str, uuid.UUID] = field(default_factory=dict)
    # Channel-asserted conversation (chat session, app conversation, call) -> its party.
    conversations: dict[str, uuid.UUID] = field(default_factory=dict)
    # Parties of quoted cases that are provisional and not merged (own-case continuity).
    provisional: set[uuid.UUID] = field(default_factory=set)
    parties: dict[uuid.UUID, Party] = field(default_factory=dict)
    new_parties: list[dict[str, Any]] = field(default_factory=list)
    new_identifiers: list[tuple[uuid.UUID, SenderIdentifier, uuid.UUID | None]] = field(
        default_factory=list
    )
    suggested: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    new_suggestions: list[dict[str, Any]] = field(default_factory=list)
    inserted_suggestions: set[uuid.UUID] = field(default_factory=set)
    family: dict[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)
    cases: dict[uuid.UUID, Case] = field(default_factory=dict)
    new_cases: dict[uuid.UUID, datetime | None] = field(default_factory=dict)  # id -> due_at
    touched_cases: set[uuid.UUID] = field(default_factory=set)
    thread_refs: dict[str, uuid.UUID] = field(default_factory=dict)
    new_refs: dict[str, uuid.UUID] = field(default_factory=dict)
    reclassified: dict[uuid.UUID, tuple[str | None, bool]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)

    def held(self, message: InboundMessage) -> list[Holding]:
        return [h for s in message.sender for h in self.holdings.get((s.kind.value, s.value), [])]

    def hold(self, party_id: uuid.UUID, identifier: SenderIdentifier) -> None:
        holding = Holding(party_id, identifier.kind, identifier.value, identifier.trust)
        self.holdings.setdefault((identifier.kind.value, identifier.value), []).append(holding)

    by_party: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)
    by_number: dict[str, uuid.UUID] = field(default_factory=dict)

    def put_case(self, case: Case) -> None:
        self.cases[case.id] = case
        self.by_party.setdefault(case.party_id, set()).add(case.id)
        if case.number:
            self.by_number[case.number] = case.id

    def cases_of(self, party_ids: Iterable[uuid.UUID]) -> list[Case]:
        return [self.cases[c] for p in party_ids for c in self.by_party.get(p, ())]


@dataclass
class _Routed:
    """One message's outcome, turned into events once case numbers are allocated."""

    message: InboundMessage
    record: Record
    event: CloudEvent
    party_id: uuid.UUID
    case_id: uuid.UUID
    new_case: bool
    match_rule: str
    match_detail: str
    flags: tuple[tuple[str, str], ...]
    product: ProductMatch
    party_events: list[Any]  # party-level events (created, identifier added, suggestions, …)
    reclassified: bool = False


async def route_messages(
    session: AsyncSession, items: list[tuple[CloudEvent, Record]], ctx: RouterContext
) -> None:
    """Route a batch of ``message.received`` events in one transaction."""
    if not items:
        return
    repo = Repository(session)
    now = datetime.now(UTC)
    messages = [(MessageReceived.model_validate(e.data).message, e, r) for e, r in items]
    state = _State()

    # 1. Read what identification needs: who holds these identifiers, which provisional
    #    parties these addresses created.
    quoted = {m.message_id: quoted_bsns(m) for m, _, _ in messages}
    wanted = [s for m, _, _ in messages for s in [*m.sender, *quoted[m.message_id]]]
    for h in await repo.holdings(wanted):
        state.holdings.setdefault((h.kind.value, h.value), []).append(h)
    origins = {o for m, _, _ in messages if (o := origin_key(m))}
    state.origins.update(await repo.parties_by_origin(origins))
    #    Continuity without trust: the cases of quoted numbers and of thread references
    #    (a conversation's party; a quoted case's party when provisional).
    numbers = {n for m, _, _ in messages if (n := quoted_case_number(m))}
    for case in await repo.cases_by_numbers(numbers):
        state.put_case(case)
    refs = {ref for m, _, _ in messages for ref in m.thread_refs}
    conversations = {r for m, _, _ in messages for r in conversation_refs(m)}
    threaded = await repo.cases_by_refs(refs)
    for ref, case in threaded.items():
        state.put_case(case)
        state.thread_refs[ref] = case.id
    owners = await repo.survivors(c.party_id for r, c in threaded.items() if r in conversations)
    for ref, case in threaded.items():
        if ref in conversations:
            state.conversations[ref] = owners[case.party_id]
    state.provisional = await repo.unmerged_provisional(
        state.cases[state.by_number[n]].party_id for n in numbers if n in state.by_number
    )

    # 2. Identify every message in order (trust ladder, domain/identity.py).
    outcomes: list[_Routed] = []
    for message, event, record in messages:
        outcomes.append(_identify(message, event, record, state, now, quoted[message.message_id]))

    # 3. Lock the existing parties involved, in id order (replicas lock alike: no deadlock),
    #    and read their cases, their merged-in parties, quoted case numbers and threads.
    existing = sorted({o.party_id for o in outcomes} - {p["id"] for p in state.new_parties})
    state.parties.update(await repo.lock_parties(existing))
    state.family.update(await repo.families(existing))
    all_family = {p for f in state.family.values() for p in f} | set(existing)
    # Only open cases can take a message by the party/product rule (domain/model.py); quoted
    # numbers and thread references find closed ones below.
    for case in await repo.cases_of(all_family, open_only=True):
        state.put_case(case)

    # 4. Match each message to a case (design §5, domain/model.py) and route new cases.
    for outcome in outcomes:
        _match(outcome, state, ctx.routing, now)

    # 5. The writes that need no case number, then the events (their new cases' numbers
    #    filled in below), then the numbers and the rest: the year's counter row stays
    #    locked until commit, so it is taken as late as possible (replicas queue on it).
    await _write_unnumbered(repo, state, now)
    history = History(source=ctx.source, topic=ctx.timeline_topic, now=now)
    unnumbered: dict[uuid.UUID, list[dict[str, Any]]] = {}
    routed: dict[tuple[str, str, str], int] = {}  # the ROUTED counter, counted per batch
    for outcome in outcomes:
        with record_span(outcome.record, outcome.event, ctx.group):
            history.take_trace(outcome.record)
            _record(outcome, state, unnumbered, history, ctx.routing, routed)
    for labels, count in routed.items():
        ROUTED.labels(*labels).inc(count)
    numbers_by_case = await _allocate_numbers(repo, state, now)
    for case_id, data in unnumbered.items():
        for d in data:
            d["case_number"] = numbers_by_case[case_id]
    await _write_numbered(repo, state, numbers_by_case)
    await history.save(session)


def _identify(
    message: InboundMessage,
    event: CloudEvent,
    record: Record,
    state: _State,
    now: datetime,
    quoted: list[SenderIdentifier],
) -> _Routed:
    origin = origin_key(message)
    held = state.held(message) + [
        h for q in quoted for h in state.holdings.get((q.kind.value, q.value), [])
    ]
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
    )
    party_events: list[Any] = []
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
    for identifier in decision.new_identifiers:
        state.hold(party_id, identifier)
        state.new_identifiers.append((party_id, identifier, message.message_id))
    for other, identifier in decision.suggestions:
        _suggest_to(party_events, party_id, message.message_id, state, other, identifier, now)
    for other in decision.duplicates:
        DUPLICATES_FLAGGED.inc()
        party_events.append(
            PossibleDuplicateFlagged(
                party_id=party_id, other_party_id=other, message_id=message.message_id, at=now
            )
        )
    return _Routed(
        message=message,
        record=record,
        event=event,
        party_id=party_id,
        case_id=uuid.UUID(int=0),
        new_case=False,
        match_rule="",
        match_detail="",
        flags=(),
        product=ProductMatch(None, "no-match", ()),
        party_events=party_events,
    )


def _suggest(
    outcome: _Routed, state: _State, other: uuid.UUID, identifier: SenderIdentifier, now: datetime
) -> None:
    _suggest_to(
        outcome.party_events,
        outcome.party_id,
        outcome.message.message_id,
        state,
        other,
        identifier,
        now,
    )


def _suggest_to(
    events: list[Any],
    party_id: uuid.UUID,
    message_id: uuid.UUID,
    state: _State,
    other: uuid.UUID,
    identifier: SenderIdentifier,
    now: datetime,
) -> None:
    """A suggested link, once per pair (published only if the pair is new, see _write)."""
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
    events.append(
        LinkSuggested(
            suggestion_id=suggestion_id,
            party_id=party_id,
            suggested_party_id=other,
            identifier=_ident(identifier),
            message_id=message_id,
            at=now,
        )
    )


def _match(outcome: _Routed, state: _State, routing: Routing, now: datetime) -> None:
    message = outcome.message
    family = state.family.get(outcome.party_id, frozenset({outcome.party_id}))
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
    )
    case = match.case
    if case is None:
        owner = owner_for_new_case(message, routing.owner_of(product.product), routing.teams)
        case = Case(
            id=new_id(),
            number="",  # allocated for the whole batch in one statement
            party_id=outcome.party_id,
            product=product.product.upl if product.product else None,
            status=(imported and message.case_status_hint) or "open",
            owner_team=owner,
            opened_at=at,
            last_activity_at=at,
            establishment=message.establishment,
            confidential=bool(product.product and product.product.confidential)
            or owner in routing.spec.confidential_teams,
        )
        state.new_cases[case.id] = routing.due_at(
            start=at, channel=message.channel, product=product.product
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
            outcome.reclassified = True
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
            _suggest(outcome, state, other, message.sender[0], now)
    outcome.case_id = case.id
    outcome.new_case = match.case is None
    state.contacts.append(
        {
            "message_id": message.message_id,
            "case_id": case.id,
            "referenced_case_id": match.referenced,
        }
    )
    outcome.match_rule, outcome.match_detail, outcome.flags = match.rule, match.detail, match.flags
    outcome.product = product


async def _allocate_numbers(repo: Repository, state: _State, now: datetime) -> dict[uuid.UUID, str]:
    if not state.new_cases:
        return {}
    numbers = await repo.next_case_numbers(now.year, len(state.new_cases))
    return dict(zip(state.new_cases, numbers, strict=True))


def _iso(moment: datetime) -> str:
    """A datetime as pydantic writes it in JSON mode (``Z`` for UTC, other offsets kept)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _opt(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def case_opened_json(case: Case, number: str, due_at: datetime | None) -> dict[str, Any]:
    """``CaseOpened(...).model_dump(mode="json")`` without the model (unit test holds it)."""
    return {
        "case_id": str(case.id),
        "case_number": number,
        "party_id": str(case.party_id),
        "product": case.product,
        "confidential": case.confidential,
        "owner_team": case.owner_team,
        "status": case.status,
        "opened_at": _iso(case.opened_at),
        "due_at": None if due_at is None else _iso(due_at),
    }


def case_classified_json(case: Case, message: InboundMessage) -> dict[str, Any]:
    """``CaseClassified(...).model_dump(mode="json")`` without the model."""
    return {
        "case_id": str(case.id),
        "party_id": str(case.party_id),
        "product": case.product,
        "confidential": case.confidential,
        "message_id": str(message.message_id),
        "at": _iso(message.received_at),
    }


def message_routed_json(
    message: InboundMessage,
    *,
    party_id: uuid.UUID,
    case: Case,
    number: str,
    explanation: dict[str, Any],
    flags: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """``MessageRouted(...).model_dump(mode="json")`` without the model (the router makes one
    for every message; the inbound message was validated, the rest is the router's own)."""
    return {
        "message_id": str(message.message_id),
        "party_id": str(party_id),
        "case_id": str(case.id),
        "case_number": number,
        "channel": message.channel.value,
        "received_at": _iso(message.received_at),
        "display_name": message.display_name,
        "subject": message.subject,
        "text": message.text,
        "attachments": [a.model_dump(mode="json") for a in message.attachments],
        "owner_team": case.owner_team,
        "explanation": explanation,
        "flags": [{"kind": k, "detail": d} for k, d in flags],
    }


def _record(
    outcome: _Routed,
    state: _State,
    unnumbered: dict[uuid.UUID, list[dict[str, Any]]],
    history: History,
    routing: Routing,
    counts: dict[tuple[str, str, str], int],
) -> None:
    """The message's events, in order. A new case's number is not known yet: the JSON
    that carries it is listed in ``unnumbered`` to be filled in."""
    party = state.parties[outcome.party_id]
    for payload in outcome.party_events:
        if isinstance(payload, LinkSuggested):
            if payload.suggestion_id not in state.inserted_suggestions:
                continue
            SUGGESTED_LINKS.inc()
        history.record(party, payload)
    case = state.cases[outcome.case_id]
    number = case.number
    product = outcome.product.product
    if outcome.new_case:
        owner_rule = f"product:{product.upl}" if product else "default-owner"
        imported_owner = outcome.message.owner_team_hint == case.owner_team
        owner_detail = (
            f"{outcome.product.rule}: {', '.join(outcome.product.matched)} → {case.owner_team}"
            if product
            else f"no product recognised; the contact centre ({case.owner_team}) owns it"
        )
        if imported_owner:
            owner_rule = "imported-owner"
            owner_detail = f"the old CRM's owning team ({case.owner_team}) keeps the case"
        opened = history.record_json(
            party,
            CaseOpened.TYPE,
            case_opened_json(case, number, state.new_cases[case.id]),
            aggregate="case",
        )
        unnumbered.setdefault(case.id, []).append(opened)
    else:
        owner_rule, owner_detail = (
            "existing-owner",
            f"the case keeps its owning team ({case.owner_team})",
        )
    message = outcome.message
    if outcome.reclassified:
        history.record_json(
            party, CaseClassified.TYPE, case_classified_json(case, message), aggregate="case"
        )
    routed = history.record_json(
        party,
        MessageRouted.TYPE,
        message_routed_json(
            message,
            party_id=party.id,
            case=case,
            number=number,
            explanation={
                "case_rule": outcome.match_rule,
                "case_detail": outcome.match_detail,
                "owner_rule": owner_rule,
                "owner_detail": owner_detail,
                "ruleset_version": routing.version,
                "matched": list(outcome.product.matched),
            },
            flags=outcome.flags,
        ),
    )
    if case.id in state.new_cases:
        unnumbered.setdefault(case.id, []).append(routed)
    key = (outcome.match_rule, owner_rule.split(":")[0], case.owner_team)
    counts[key] = counts.get(key, 0) + 1


async def _write_unnumbered(repo: Repository, state: _State, now: datetime) -> None:
    await repo.insert_parties(state.new_parties)
    await repo.insert_identifiers(state.new_identifiers, now=now)
    state.inserted_suggestions = await repo.insert_suggestions(state.new_suggestions)
    await repo.touch_cases(state.touched_cases - set(state.new_cases), now)
    await repo.classify_cases(state.reclassified)


async def _write_numbered(repo: Repository, state: _State, numbers: dict[uuid.UUID, str]) -> None:
    await repo.insert_cases(
        [replace(state.cases[case_id], number=numbers[case_id]) for case_id in state.new_cases],
        state.new_cases,
    )
    await repo.insert_thread_refs(state.new_refs)
    await repo.insert_contacts(state.contacts)
