"""Applying timeline events to the read models, inside the consumer's batch transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import cases, parties, party_identifiers, timeline_entries
from shared.contracts import CaseOpened, Event, MessageRouted, PartyCreated
from shared.envelope import CloudEvent


async def party_created(session: AsyncSession, event: CloudEvent, e: PartyCreated) -> None:
    await session.execute(
        parties.insert().values(
            id=e.party_id,
            provisional=e.provisional,
            display_name=e.display_name,
            created_at=e.created_at,
        )
    )
    if e.identifiers:
        await session.execute(
            party_identifiers.insert(),
            [
                {
                    "party_id": e.party_id,
                    "kind": i.kind.value,
                    "value": i.value,
                    "trust": i.trust.value,
                }
                for i in e.identifiers
            ],
        )
    await _entry(session, event, party_id=e.party_id, occurred_at=e.created_at)


async def case_opened(session: AsyncSession, event: CloudEvent, e: CaseOpened) -> None:
    await session.execute(
        cases.insert().values(
            id=e.case_id,
            number=e.case_number,
            party_id=e.party_id,
            product=e.product,
            status=e.status,
            owner_team=e.owner_team,
            opened_at=e.opened_at,
        )
    )
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.opened_at)


async def message_routed(session: AsyncSession, event: CloudEvent, e: MessageRouted) -> None:
    await _entry(
        session,
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        message_id=e.message_id,
        channel=e.channel.value,
        occurred_at=e.received_at,
    )


async def _entry(session: AsyncSession, event: CloudEvent, **columns: object) -> None:
    await session.execute(
        timeline_entries.insert().values(
            event_id=event.id,
            sequence=event.sequence or 0,
            type=event.type,
            body=event.data,
            **columns,
        )
    )


Projection = Callable[[AsyncSession, CloudEvent, Event], Awaitable[None]]

PROJECTIONS: dict[str, tuple[type[Event], Projection]] = {
    PartyCreated.TYPE: (PartyCreated, party_created),  # type: ignore[dict-item]
    CaseOpened.TYPE: (CaseOpened, case_opened),  # type: ignore[dict-item]
    MessageRouted.TYPE: (MessageRouted, message_routed),  # type: ignore[dict-item]
}


async def project(session: AsyncSession, event: CloudEvent) -> None:
    """Apply one event; types caseview does not show are skipped (forward compatible)."""
    entry = PROJECTIONS.get(event.type)
    if entry is None:
        return
    model, apply = entry
    await apply(session, event, model.model_validate(event.data))
