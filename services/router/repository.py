"""Reading and writing parties and cases inside the batch's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import Holding
from services.router.domain.model import OPEN_STATUSES, Case, Party, case_number
from services.router.orm import (
    case_number_counters,
    case_participants,
    case_thread_refs,
    cases,
    contacts,
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
        establishment=row.establishment,
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
        """Every party link to any of these identifiers, merged parties resolved."""
        pairs = {(i.kind.value, i.value) for i in identifiers}
        if not pairs:
            return []
        values = {v for _, v in pairs}
        rows = await self.session.execute(
            select(
                party_identifiers.c.party_id,
                party_identifiers.c.kind,
                party_identifiers.c.value,
                party_identifiers.c.trust,
                parties.c.merged_into,
            )
            .join(parties, parties.c.id == party_identifiers.c.party_id)
            .where(party_identifiers.c.value.in_(values))
        )
        found = []
        for r in rows:
            if (r.kind, r.value) not in pairs:
                continue
            party_id = r.party_id if r.merged_into is None else await self.survivor(r.party_id)
            found.append(Holding(party_id, IdentifierKind(r.kind), r.value, Trust(r.trust)))
        return found

    async def identifiers_of(self, party_id: uuid.UUID) -> list[Holding]:
        rows = await self.session.execute(
            select(
                party_identifiers.c.kind, party_identifiers.c.value, party_identifiers.c.trust
            ).where(party_identifiers.c.party_id == party_id)
        )
        return [Holding(party_id, IdentifierKind(r.kind), r.value, Trust(r.trust)) for r in rows]

    async def strongly_held_elsewhere(
        self, kind: IdentifierKind, value: str, party_id: uuid.UUID
    ) -> bool:
        holder = await self.session.scalar(
            select(party_identifiers.c.party_id).where(
                party_identifiers.c.kind == kind.value,
                party_identifiers.c.value == value,
                party_identifiers.c.trust != "claimed",
            )
        )
        return holder is not None and holder != party_id

    async def parties_by_origin(self, origins: Iterable[str]) -> dict[str, uuid.UUID]:
        origins = list(origins)
        if not origins:
            return {}
        rows = await self.session.execute(
            select(parties.c.origin, parties.c.id, parties.c.merged_into).where(
                parties.c.origin.in_(origins)
            )
        )
        return {
            r.origin: r.id if r.merged_into is None else await self.survivor(r.id) for r in rows
        }

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        """Row-lock the parties (in id order, so replicas never deadlock on them)."""
        if not party_ids:
            return {}
        rows = await self.session.execute(
            select(parties.c.id, parties.c.provisional, parties.c.version)
            .where(parties.c.id.in_(sorted(party_ids)))
            .order_by(parties.c.id)
            .with_for_update()
        )
        return {r.id: Party(id=r.id, provisional=r.provisional, version=r.version) for r in rows}

    async def families(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        """Each party with every party (transitively) merged into it."""
        members: dict[uuid.UUID, set[uuid.UUID]] = {p: {p} for p in party_ids}
        owner = {p: p for p in party_ids}
        frontier = list(party_ids)
        while frontier:
            rows = (
                await self.session.execute(
                    select(parties.c.id, parties.c.merged_into).where(
                        parties.c.merged_into.in_(frontier)
                    )
                )
            ).all()
            frontier = []
            for r in rows:
                if r.id not in owner:
                    owner[r.id] = owner[r.merged_into]
                    members[owner[r.id]].add(r.id)
                    frontier.append(r.id)
        return {p: frozenset(m) for p, m in members.items()}

    async def insert_parties(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(parties.insert(), rows)

    async def insert_identifiers(
        self, items: list[tuple[uuid.UUID, SenderIdentifier, uuid.UUID | None]], *, now: datetime
    ) -> None:
        if items:
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
                    for party_id, i, message_id in items
                ],
            )

    async def insert_suggestions(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert suggested links; returns the ids of those not suggested before."""
        inserted: set[uuid.UUID] = set()
        for row in rows:  # few per batch; RETURNING tells which pairs were new
            stmt = (
                upsert_insert(self.session, link_suggestions)
                .values(**row)
                .on_conflict_do_nothing()
                .returning(link_suggestions.c.id)
            )
            new = await self.session.scalar(stmt)
            if new is not None:
                inserted.add(new)
        return inserted

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

    async def set_versions(self, versions: dict[uuid.UUID, int]) -> None:
        if versions:
            await self.session.execute(
                update(parties)
                .where(parties.c.id == bindparam("pid"))
                .values(version=bindparam("v")),
                [{"pid": p, "v": v} for p, v in versions.items()],
            )

    async def set_merged_into(self, party_id: uuid.UUID, survivor: uuid.UUID | None) -> None:
        values: dict[str, Any] = {"merged_into": survivor}
        if survivor is not None:
            # A merged party's address no longer recognises anyone by itself: the next
            # message from it (a shared family address) is suggested, not linked.
            values["origin"] = None
        await self.session.execute(update(parties).where(parties.c.id == party_id).values(**values))

    async def is_provisional(self, party_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(select(parties.c.provisional).where(parties.c.id == party_id))
        )

    # --- suggested links and merges -------------------------------------------------

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

    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        query = select(cases).where(cases.c.id == case_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _case(row)

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]:
        query = select(cases).where(cases.c.party_id.in_(list(party_ids)))
        if open_only:  # years of finished cases (an imported history) are not read per batch
            query = query.where(cases.c.status.in_(OPEN_STATUSES))
        rows = await self.session.execute(query)
        return [_case(r) for r in rows]

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]:
        numbers = list(numbers)
        if not numbers:
            return []
        rows = await self.session.execute(select(cases).where(cases.c.number.in_(numbers)))
        return [_case(r) for r in rows]

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        refs = list(refs)
        if not refs:
            return {}
        rows = await self.session.execute(
            select(case_thread_refs.c.ref, cases)
            .join(cases, case_thread_refs.c.case_id == cases.c.id)
            .where(case_thread_refs.c.ref.in_(refs))
        )
        return {r.ref: _case(r) for r in rows}

    async def next_case_numbers(self, year: int, count: int) -> list[str]:
        """``count`` consecutive numbers from the year's counter, in one statement. Gapless
        under concurrency: the counter row stays locked until the batch commits, and a
        rolled-back batch gives its numbers back."""
        insert = upsert_insert(self.session, case_number_counters).values(
            year=year, last_serial=count
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[case_number_counters.c.year],
            set_={"last_serial": case_number_counters.c.last_serial + count},
        ).returning(case_number_counters.c.last_serial)
        last = int(await self.session.scalar(stmt) or 0)
        return [case_number(year, serial) for serial in range(last - count + 1, last + 1)]

    async def insert_cases(self, new: list[Case], due: dict[uuid.UUID, datetime | None]) -> None:
        if new:
            await self.session.execute(
                cases.insert(),
                [
                    {
                        "id": c.id,
                        "number": c.number,
                        "party_id": c.party_id,
                        "product": c.product,
                        "confidential": c.confidential,
                        "status": c.status,
                        "owner_team": c.owner_team,
                        "handover_count": 0,
                        "opened_at": c.opened_at,
                        "last_activity_at": c.last_activity_at,
                        "due_at": due[c.id],
                        "establishment": c.establishment,
                    }
                    for c in new
                ],
            )

    async def touch_cases(self, case_ids: Iterable[uuid.UUID], now: datetime) -> None:
        case_ids = list(case_ids)
        if case_ids:
            await self.session.execute(
                update(cases).where(cases.c.id.in_(case_ids)).values(last_activity_at=now)
            )

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        for case_id, (product, confidential) in classified.items():
            await self.session.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(product=product, confidential=confidential)
            )

    async def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            stmt = upsert_insert(self.session, contacts).on_conflict_do_nothing()
            await self.session.execute(stmt, rows)

    async def contacts_of(self, case_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        """(message id, referenced case id) of every contact of the case."""
        rows = await self.session.execute(
            select(contacts.c.message_id, contacts.c.referenced_case_id).where(
                contacts.c.case_id == case_id
            )
        )
        return [(r.message_id, r.referenced_case_id) for r in rows]

    async def fold_case(
        self, case_id: uuid.UUID, into: uuid.UUID, *, result: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(contacts).where(contacts.c.case_id == case_id).values(case_id=into)
        )
        await self.session.execute(
            update(case_thread_refs)
            .where(case_thread_refs.c.case_id == case_id)
            .values(case_id=into)
        )
        await self.session.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                status="afgehandeld",
                result=result,
                closed_at=now,
                last_activity_at=now,
                merged_into=into,
            )
        )

    async def insert_thread_refs(self, refs: dict[str, uuid.UUID]) -> None:
        if refs:
            # A reference already tied to a case stays with it (a forwarded message may
            # carry the references of somebody else's conversation).
            stmt = upsert_insert(self.session, case_thread_refs).on_conflict_do_nothing()
            await self.session.execute(stmt, [{"ref": r, "case_id": c} for r, c in refs.items()])

    async def update_case(self, case_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(cases).where(cases.c.id == case_id).values(**values))

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
