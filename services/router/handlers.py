"""The router's handlers: one inbound message in, its history events out (via the outbox)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import identify, origin_key
from services.router.domain.model import Case, match_case, quoted_case_number
from services.router.history import History
from services.router.repository import Repository
from services.router.routing.rules import Routing
from shared.contracts import (
    CaseOpened,
    Flag,
    InboundMessage,
    MessageReceived,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    PartyIdentifierAdded,
    PossibleDuplicateFlagged,
    RoutingExplanation,
)
from shared.contracts.timeline import LinkSuggested
from shared.envelope import CloudEvent
from shared.ids import new_id

ROUTED = Counter(
    "eenloket_router_messages_routed_total",
    "Messages routed, by case rule, owner rule and owning team",
    ["case_rule", "owner_rule", "team"],
)
SUGGESTED_LINKS = Counter("eenloket_router_links_suggested_total", "Suggested identity links made")
DUPLICATES_FLAGGED = Counter(
    "eenloket_router_duplicates_flagged_total", "Messages carrying identifiers of two parties"
)


@dataclass(frozen=True)
class RouterContext:
    source: str
    timeline_topic: str
    routing: Routing


def _ident(i: object) -> PartyIdentifier:
    return PartyIdentifier.model_validate(i, from_attributes=True)


async def route_message(session: AsyncSession, event: CloudEvent, ctx: RouterContext) -> None:
    """Identify the party, match or open the case, assign the owner, publish the history."""
    message = MessageReceived.model_validate(event.data).message
    repo = Repository(session)
    history = History(source=ctx.source, topic=ctx.timeline_topic)
    now = datetime.now(UTC)

    # 1. Who is it? (trust ladder, domain/identity.py)
    origin = origin_key(message)
    decision = identify(
        message,
        await repo.holdings(message.sender),
        await repo.party_by_origin(origin) if origin else None,
    )
    if decision.party_id is None:
        party = await repo.add_party(
            party_id=new_id(),
            provisional=decision.provisional,
            display_name=message.display_name,
            origin=origin if decision.provisional else None,
            now=now,
        )
        await repo.add_identifiers(
            party.id, decision.new_identifiers, message_id=message.message_id, now=now
        )
        history.record(
            party,
            PartyCreated(
                party_id=party.id,
                provisional=party.provisional,
                display_name=message.display_name,
                identifiers=[_ident(i) for i in decision.new_identifiers],
                created_at=now,
            ),
        )
    else:
        party = await repo.lock_party(decision.party_id)
        await repo.add_identifiers(
            party.id, decision.new_identifiers, message_id=message.message_id, now=now
        )
        for identifier in decision.new_identifiers:
            history.record(
                party,
                PartyIdentifierAdded(
                    party_id=party.id,
                    identifier=_ident(identifier),
                    source_message_id=message.message_id,
                    at=now,
                ),
            )
    for other, identifier in decision.suggestions:
        suggestion_id = await repo.add_suggestion(
            party_id=party.id,
            suggested_party_id=other,
            identifier=identifier,
            message_id=message.message_id,
            now=now,
        )
        if suggestion_id is not None:
            SUGGESTED_LINKS.inc()
            history.record(
                party,
                LinkSuggested(
                    suggestion_id=suggestion_id,
                    party_id=party.id,
                    suggested_party_id=other,
                    identifier=_ident(identifier),
                    message_id=message.message_id,
                    at=now,
                ),
            )
    for other in decision.duplicates:
        DUPLICATES_FLAGGED.inc()
        history.record(
            party,
            PossibleDuplicateFlagged(
                party_id=party.id, other_party_id=other, message_id=message.message_id, at=now
            ),
        )

    # 2. Which case? (design §5, domain/model.py)
    product = ctx.routing.classify(
        hint=message.product_hint, text=f"{message.subject or ''}\n{message.text}"
    )
    family = await repo.family(party.id)
    number = quoted_case_number(message)
    match = match_case(
        party_ids=family,
        quoted=await repo.case_by_number(number) if number else None,
        quoted_number=number,
        threaded=await repo.cases_by_thread(message.thread_refs),
        party_cases=await repo.cases_of(family),
        product=product.product.upl if product.product else None,
        now=now,
        window_days=ctx.routing.spec.case_window_days,
    )

    # 3. Who owns it? (routing file, design §6)
    case = match.case
    if case is None:
        owner = ctx.routing.owner_of(product.product)
        owner_rule = f"product:{product.product.upl}" if product.product else "default-owner"
        owner_detail = (
            f"{product.rule}: {', '.join(product.matched)} → {owner}"
            if product.product
            else f"no product recognised; the contact centre ({owner}) owns it"
        )
        case = Case(
            id=new_id(),
            number=await repo.next_case_number(now.year),
            party_id=party.id,
            product=product.product.upl if product.product else None,
            status="open",
            owner_team=owner,
            opened_at=now,
            last_activity_at=now,
            confidential=bool(product.product and product.product.confidential),
        )
        due_at = ctx.routing.due_at(start=now, channel=message.channel, product=product.product)
        await repo.add_case(case, due_at=due_at)
        history.record(
            party,
            CaseOpened(
                case_id=case.id,
                case_number=case.number,
                party_id=party.id,
                product=case.product,
                confidential=case.confidential,
                owner_team=case.owner_team,
                status=case.status,
                opened_at=now,
                due_at=due_at,
            ),
            aggregate="case",
        )
    else:
        owner_rule, owner_detail = (
            "existing-owner",
            f"the case keeps its owning team ({case.owner_team})",
        )
        await repo.update_case(case.id, last_activity_at=now)
    await repo.add_thread_refs(case.id, message.thread_refs)

    history.record(
        party,
        _routed(
            message,
            party_id=party.id,
            case=case,
            explanation=RoutingExplanation(
                case_rule=match.rule,
                case_detail=match.detail,
                owner_rule=owner_rule,
                owner_detail=owner_detail,
                ruleset_version=ctx.routing.version,
                matched=list(product.matched),
            ),
            flags=[Flag(kind=k, detail=d) for k, d in match.flags],
        ),
    )
    ROUTED.labels(match.rule, owner_rule.split(":")[0], case.owner_team).inc()
    await history.save(session)


def _routed(
    message: InboundMessage,
    *,
    party_id: uuid.UUID,
    case: Case,
    explanation: RoutingExplanation,
    flags: list[Flag],
) -> MessageRouted:
    return MessageRouted(
        message_id=message.message_id,
        party_id=party_id,
        case_id=case.id,
        case_number=case.number,
        channel=message.channel,
        received_at=message.received_at,
        display_name=message.display_name,
        subject=message.subject,
        text=message.text,
        attachments=list(message.attachments),
        owner_team=case.owner_team,
        explanation=explanation,
        flags=flags,
    )
