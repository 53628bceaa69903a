"""Reading and writing parties and cases inside the batch's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import Holding
from services.router.domain.model import Case, Party, case_number
from services.router.orm import (
    case_number_counters,
    case_participants,
    case_thread_refs,
    cases,
    link_suggestions,
    merges,
    parties,
    party_identifiers,
)
from shared.contracts import IdentifierKind, SenderIdentifier, Trust
from shared.db.dialect import upsert_insert


def _case(row: Row[Any]) -> Case:
    return Case(
        id=row.id,
        number=row.number,
        party_id=row.party_id,
        product=row.product,
        status=row.status,
        owner_team=row.owner_team,
        opened_at=row.opened_at,
        last_activity_at=row.last_activity_at,
        confidential=row.confidential,
        handover_count=row.handover_count,
    )


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- parties -------------------------------------------------------------------

    async def survivor(self, party_id: uuid.UUID) -> uuid.UUID:
        """Follow merges to the party that represents this person now."""
        seen = {party_id}
        while True:
            merged_into = await self.session.scalar(
                select(parties.c.merged_into).where(parties.c.id == party_id)
            )
            if merged_into is None or merged_into in seen:
                return party_id
            seen.add(merged_into)
            party_id = merged_into

    async def holdings(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        pairs = {(i.kind.value, i.value) for i in identifiers}
        if not pairs:
            return []
        rows = await self.session.execute(
            select(
                party_identifiers.c.party_id,
                party_identifiers.c.kind,
                party_identifiers.c.value,
                party_identifiers.c.trust,
            ).where(
                or_(
                    *(
                        and_(party_identifiers.c.kind == k, party_identifiers.c.value == v)
                        for k, v in pairs
                    )
                )
            )
        )
        return [
            Holding(
                party_id=await self.survivor(r.party_id),
                kind=IdentifierKind(r.kind),
                value=r.value,
                trust=Trust(r.trust),
            )
            for r in rows
        ]

    async def party_by_origin(self, origin: str) -> uuid.UUID | None:
        party_id = await self.session.scalar(select(parties.c.id).where(parties.c.origin == origin))
        return None if party_id is None else await self.survivor(party_id)

    async def lock_party(self, party_id: uuid.UUID) -> Party:
        """Row-lock the party: its events are numbered and written by one transaction."""
        row = (
            await self.session.execute(
                select(parties.c.id, parties.c.provisional, parties.c.version)
                .where(parties.c.id == party_id)
                .with_for_update()
            )
        ).one_or_none()
        if row is None:
            raise LookupError("unknown party")
        return Party(id=row.id, provisional=row.provisional, version=row.version)

    async def party_exists(self, party_id: uuid.UUID) -> bool:
        return (
            await self.session.scalar(select(parties.c.id).where(parties.c.id == party_id))
        ) is not None

    async def add_party(
        self,
        *,
        party_id: uuid.UUID,
        provisional: bool,
        display_name: str | None,
        origin: str | None,
        now: datetime,
    ) -> Party:
        await self.session.execute(
            parties.insert().values(
                id=party_id,
                provisional=provisional,
                display_name=display_name,
                origin=origin,
                version=0,
                created_at=now,
            )
        )
        return Party(id=party_id, provisional=provisional, version=0)

    async def add_identifiers(
        self,
        party_id: uuid.UUID,
        identifiers: Iterable[SenderIdentifier],
        *,
        message_id: uuid.UUID | None,
        now: datetime,
    ) -> None:
        rows = [
            {
                "id": uuid.uuid4(),
                "party_id": party_id,
                "kind": i.kind.value,
                "value": i.value,
                "trust": i.trust.value,
                "source_message_id": message_id,
                "created_at": now,
            }
            for i in identifiers
        ]
        if rows:
            await self.session.execute(party_identifiers.insert(), rows)

    async def family(self, party_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The party and every party (transitively) merged into it."""
        found = {party_id}
        frontier = [party_id]
        while frontier:
            children = (
                await self.session.scalars(
                    select(parties.c.id).where(parties.c.merged_into.in_(frontier))
                )
            ).all()
            frontier = [c for c in children if c not in found]
            found.update(frontier)
        return frozenset(found)

    async def set_versions(self, versions: dict[uuid.UUID, int]) -> None:
        for party_id, version in versions.items():
            await self.session.execute(
                update(parties).where(parties.c.id == party_id).values(version=version)
            )

    async def set_merged_into(self, party_id: uuid.UUID, survivor: uuid.UUID | None) -> None:
        await self.session.execute(
            update(parties).where(parties.c.id == party_id).values(merged_into=survivor)
        )

    async def is_provisional(self, party_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(select(parties.c.provisional).where(parties.c.id == party_id))
        )

    # --- suggested links and merges -------------------------------------------------

    async def add_suggestion(
        self,
        *,
        party_id: uuid.UUID,
        suggested_party_id: uuid.UUID,
        identifier: SenderIdentifier,
        message_id: uuid.UUID,
        now: datetime,
    ) -> uuid.UUID | None:
        """Record a suggested link; None if this pair was suggested before."""
        suggestion_id = uuid.uuid4()
        stmt = (
            upsert_insert(self.session, link_suggestions)
            .values(
                id=suggestion_id,
                party_id=party_id,
                suggested_party_id=suggested_party_id,
                kind=identifier.kind.value,
                value=identifier.value,
                trust=identifier.trust.value,
                message_id=message_id,
                status="pending",
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(link_suggestions.c.id)
        )
        inserted: uuid.UUID | None = await self.session.scalar(stmt)
        return inserted

    async def suggestion(self, suggestion_id: uuid.UUID) -> Row[Any] | None:
        return (
            await self.session.execute(
                select(link_suggestions)
                .where(link_suggestions.c.id == suggestion_id)
                .with_for_update()
            )
        ).one_or_none()

    async def decide_suggestion(
        self, suggestion_id: uuid.UUID, *, confirmed: bool, by: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(link_suggestions)
            .where(link_suggestions.c.id == suggestion_id)
            .values(status="confirmed" if confirmed else "rejected", decided_at=now, decided_by=by)
        )

    async def add_merge(self, **values: Any) -> None:
        await self.session.execute(merges.insert().values(**values))

    async def merge(self, merge_id: uuid.UUID) -> Row[Any] | None:
        return (
            await self.session.execute(
                select(merges).where(merges.c.id == merge_id).with_for_update()
            )
        ).one_or_none()

    async def undo_merge(self, merge_id: uuid.UUID, *, by: str, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(merges)
            .where(merges.c.id == merge_id)
            .values(undone_at=now, undone_by=by, undo_reason=reason)
        )

    # --- cases ----------------------------------------------------------------------

    async def case_by_number(self, number: str) -> Case | None:
        row = (await self.session.execute(select(cases).where(cases.c.number == number))).first()
        return None if row is None else _case(row)

    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        query = select(cases).where(cases.c.id == case_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _case(row)

    async def cases_by_thread(self, refs: Iterable[str]) -> list[Case]:
        refs = list(dict.fromkeys(refs))
        if not refs:
            return []
        rows = await self.session.execute(
            select(cases)
            .join(case_thread_refs, case_thread_refs.c.case_id == cases.c.id)
            .where(case_thread_refs.c.ref.in_(refs))
        )
        return list({c.id: c for c in map(_case, rows)}.values())

    async def cases_of(self, party_ids: Iterable[uuid.UUID]) -> list[Case]:
        rows = await self.session.execute(
            select(cases).where(cases.c.party_id.in_(list(party_ids)))
        )
        return [_case(r) for r in rows]

    async def next_case_number(self, year: int) -> str:
        """Gapless under concurrency: the counter row is locked until the batch commits,
        and a rolled-back batch gives its number back."""
        stmt = upsert_insert(self.session, case_number_counters).on_conflict_do_nothing()
        await self.session.execute(stmt, {"year": year, "last_serial": 0})
        serial = await self.session.scalar(
            update(case_number_counters)
            .where(case_number_counters.c.year == year)
            .values(last_serial=case_number_counters.c.last_serial + 1)
            .returning(case_number_counters.c.last_serial)
        )
        assert serial is not None
        return case_number(year, int(serial))

    async def add_case(self, case: Case, *, due_at: datetime | None) -> None:
        await self.session.execute(
            cases.insert().values(
                id=case.id,
                number=case.number,
                party_id=case.party_id,
                product=case.product,
                confidential=case.confidential,
                status=case.status,
                owner_team=case.owner_team,
                handover_count=0,
                opened_at=case.opened_at,
                last_activity_at=case.last_activity_at,
                due_at=due_at,
            )
        )

    async def update_case(self, case_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(cases).where(cases.c.id == case_id).values(**values))

    async def add_thread_refs(self, case_id: uuid.UUID, refs: Iterable[str]) -> None:
        rows = [{"ref": r, "case_id": case_id} for r in dict.fromkeys(refs)]
        if rows:
            # A reference already tied to a case stays with it (a forwarded message may
            # carry the references of somebody else's conversation).
            stmt = upsert_insert(self.session, case_thread_refs).on_conflict_do_nothing()
            await self.session.execute(stmt, rows)

    async def participants(self, case_id: uuid.UUID) -> set[str]:
        return set(
            (
                await self.session.scalars(
                    select(case_participants.c.team).where(case_participants.c.case_id == case_id)
                )
            ).all()
        )

    async def add_participant(self, case_id: uuid.UUID, team: str) -> None:
        await self.session.execute(case_participants.insert().values(case_id=case_id, team=team))

    async def remove_participant(self, case_id: uuid.UUID, team: str) -> None:
        await self.session.execute(
            case_participants.delete().where(
                case_participants.c.case_id == case_id, case_participants.c.team == team
            )
        )
