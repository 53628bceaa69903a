"""The router's handlers: one inbound message in, its history events out (via the outbox)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.model import Case, Party, match_case, origin_key, strong_identifiers
from services.router.orm import outbox
from services.router.repository import Repository
from shared.contracts import (
    CaseOpened,
    Event,
    MessageReceived,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    RoutingExplanation,
    to_cloudevent,
)
from shared.envelope import CloudEvent
from shared.ids import new_id
from shared.outbox import add_to_outbox, outbox_row

RULESET_VERSION = "skeleton-1"


@dataclass
class Timeline:
    """Collects a party's events in order, numbering them with the party's sequence."""

    party: Party
    source: str
    topic: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, payload: Event, *, aggregate: str = "party") -> None:
        version = self.party.version + len(self.rows) + 1
        event = to_cloudevent(payload, source=self.source, subject=self.party.id, sequence=version)
        self.rows.append(outbox_row(topic=self.topic, aggregatetype=aggregate, event=event))

    @property
    def version(self) -> int:
        return self.party.version + len(self.rows)


@dataclass(frozen=True)
class RouterContext:
    source: str
    timeline_topic: str
    default_team: str


async def route_message(session: AsyncSession, event: CloudEvent, ctx: RouterContext) -> None:
    """Identify the party, match or open the case, assign the owner, publish the history."""
    message = MessageReceived.model_validate(event.data).message
    repo = Repository(session)
    now = datetime.now(UTC)

    strong = strong_identifiers(message)
    origin = None if strong else origin_key(message)
    party = await repo.party_by_strong_identifier(strong) if strong else None
    if party is None and origin is not None:
        party = await repo.party_by_origin(origin)
    created = party is None
    if party is None:
        party = await repo.add_party(
            party_id=new_id(),
            provisional=not strong,
            display_name=message.display_name,
            origin=origin,
            identifiers=list(message.sender),
            message_id=message.message_id,
            now=now,
        )
    timeline = Timeline(party=party, source=ctx.source, topic=ctx.timeline_topic)
    if created:
        timeline.record(
            PartyCreated(
                party_id=party.id,
                provisional=party.provisional,
                display_name=message.display_name,
                identifiers=[
                    PartyIdentifier(kind=s.kind, value=s.value, trust=s.trust)
                    for s in message.sender
                ],
                created_at=now,
            )
        )

    match = match_case(message, await repo.cases_of(party.id))
    case = match.case
    if case is None:
        case = Case(
            id=new_id(),
            number=await repo.next_case_number(now.year),
            party_id=party.id,
            product=message.product_hint,
            status="open",
            owner_team=ctx.default_team,
            opened_at=now,
        )
        await repo.add_case(case)
        timeline.record(
            CaseOpened(
                case_id=case.id,
                case_number=case.number,
                party_id=party.id,
                product=case.product,
                owner_team=case.owner_team,
                status=case.status,
                opened_at=now,
            ),
            aggregate="case",
        )

    timeline.record(
        MessageRouted(
            message_id=message.message_id,
            party_id=party.id,
            case_id=case.id,
            case_number=case.number,
            channel=message.channel,
            received_at=message.received_at,
            display_name=message.display_name,
            subject=message.subject,
            text=message.text,
            attachments=list(message.attachments),
            owner_team=case.owner_team,
            explanation=RoutingExplanation(
                case_rule=match.rule,
                case_detail=match.detail,
                owner_rule="default-owner" if match.case is None else "existing-owner",
                owner_detail=(
                    f"no routing rule matched; the contact centre ({ctx.default_team}) owns it"
                    if match.case is None
                    else "the case keeps its owning team"
                ),
                ruleset_version=RULESET_VERSION,
            ),
        )
    )
    await repo.set_party_version(party.id, timeline.version)
    await add_to_outbox(session, outbox, timeline.rows)
