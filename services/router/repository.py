"""Reading and writing parties and cases inside the batch's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.model import Case, Party, case_number
from services.router.orm import case_number_counters, cases, parties, party_identifiers
from shared.contracts import SenderIdentifier
from shared.db.dialect import upsert_insert


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def party_by_strong_identifier(self, idents: list[SenderIdentifier]) -> Party | None:
        for ident in idents:
            party_id = await self.session.scalar(
                select(party_identifiers.c.party_id).where(
                    party_identifiers.c.kind == ident.kind.value,
                    party_identifiers.c.value == ident.value,
                    party_identifiers.c.trust != "claimed",
                )
            )
            if party_id is not None:
                return await self.lock_party(party_id)
        return None

    async def party_by_origin(self, origin: str) -> Party | None:
        party_id = await self.session.scalar(select(parties.c.id).where(parties.c.origin == origin))
        return None if party_id is None else await self.lock_party(party_id)

    async def lock_party(self, party_id: uuid.UUID) -> Party:
        """Row-lock the party: its events are written in one order by one transaction."""
        row = (
            await self.session.execute(
                select(parties.c.id, parties.c.provisional, parties.c.version)
                .where(parties.c.id == party_id)
                .with_for_update()
            )
        ).one()
        return Party(id=row.id, provisional=row.provisional, version=row.version)

    async def add_party(
        self,
        *,
        party_id: uuid.UUID,
        provisional: bool,
        display_name: str | None,
        origin: str | None,
        identifiers: list[SenderIdentifier],
        message_id: uuid.UUID,
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
        await self.add_identifiers(party_id, identifiers, message_id=message_id, now=now)
        return Party(id=party_id, provisional=provisional, version=0)

    async def add_identifiers(
        self,
        party_id: uuid.UUID,
        identifiers: list[SenderIdentifier],
        *,
        message_id: uuid.UUID,
        now: datetime,
    ) -> None:
        if identifiers:
            await self.session.execute(
                party_identifiers.insert(),
                [
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
                ],
            )

    async def set_party_version(self, party_id: uuid.UUID, version: int) -> None:
        await self.session.execute(
            update(parties).where(parties.c.id == party_id).values(version=version)
        )

    async def cases_of(self, party_id: uuid.UUID) -> list[Case]:
        rows = await self.session.execute(select(cases).where(cases.c.party_id == party_id))
        return [
            Case(
                id=r.id,
                number=r.number,
                party_id=r.party_id,
                product=r.product,
                status=r.status,
                owner_team=r.owner_team,
                opened_at=r.opened_at,
            )
            for r in rows
        ]

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

    async def add_case(self, case: Case) -> None:
        await self.session.execute(
            cases.insert().values(
                id=case.id,
                number=case.number,
                party_id=case.party_id,
                product=case.product,
                status=case.status,
                owner_team=case.owner_team,
                opened_at=case.opened_at,
            )
        )
