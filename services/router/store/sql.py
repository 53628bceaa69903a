"""``RouterStore`` in SQLAlchemy Core on the session: all of it on SQLite (the demo), and
the statements of ``PostgresStore`` that are not on the batch path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.identity import Holding
from services.router.domain.model import Case, Party, case_number
from services.router.orm import (
    case_number_counters,
    case_thread_refs,
    cases,
    contacts,
    link_suggestions,
    outbox,
    parties,
    party_identifiers,
)
from services.router.store.protocol import NewIdentifier, case_row
from services.router.store.sql_commands import SqlCommandStatements, as_case
from shared.contracts import OPEN_STATUSES, IdentifierKind, SenderIdentifier, Trust
from shared.db.bulk import insert_many
from shared.db.dialect import upsert_insert
from shared.outbox import add_to_outbox

# What ON CONFLICT DO NOTHING is in SQL, for shared.db.bulk.insert_many on PostgreSQL.
_KEEP_EXISTING = "ON CONFLICT DO NOTHING"


class SqlStore(SqlCommandStatements):
    """The router's state in SQLAlchemy Core statements on the session's transaction: the
    batch path's here, the commands' single-row statements in ``SqlCommandStatements``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- parties -------------------------------------------------------------------

    async def survivor(self, party_id: uuid.UUID) -> uuid.UUID:
        seen = {party_id}
        while True:
            merged_into = await self.session.scalar(
                select(parties.c.merged_into).where(parties.c.id == party_id)
            )
            if merged_into is None or merged_into in seen:
                return party_id
            seen.add(merged_into)
            party_id = merged_into

    async def _survivors_of_merged(self, rows: Iterable[Any]) -> dict[uuid.UUID, uuid.UUID]:
        """The survivor of each (id, merged_into) row's party that is merged: chains are
        rare, so they are followed one query per link."""
        return {pid: await self.survivor(pid) for pid, merged_into in rows if merged_into}

    async def survivors(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        ids = sorted(set(party_ids))
        if not ids:
            return {}
        rows = (
            await self.session.execute(
                select(parties.c.id, parties.c.merged_into).where(parties.c.id.in_(ids))
            )
        ).all()
        merged = await self._survivors_of_merged(rows)
        return {pid: merged.get(pid, pid) for pid, _ in rows}

    async def holdings(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        pairs = {(i.kind.value, i.value) for i in identifiers}
        if not pairs:
            return []
        rows = await self._holding_rows(sorted(pairs))
        merged = await self._survivors_of_merged((r[0], r[4]) for r in rows)
        return [
            Holding(
                merged.get(party_id, party_id),
                IdentifierKind(kind),
                value,
                Trust(trust),
                provisional=provisional and merged_into is None,
            )
            for party_id, kind, value, trust, merged_into, provisional in rows
            if (kind, value) in pairs
        ]

    async def _holding_rows(self, pairs: list[tuple[str, str]]) -> list[Any]:
        """(party_id, kind, value, trust, merged_into, provisional) of every holding of these
        pairs."""
        i = party_identifiers
        rows = await self.session.execute(
            select(
                i.c.party_id,
                i.c.kind,
                i.c.value,
                i.c.trust,
                parties.c.merged_into,
                parties.c.provisional,
            )
            .join(parties, parties.c.id == i.c.party_id)
            .where(tuple_(i.c.kind, i.c.value).in_(pairs))
        )
        return list(rows)

    async def parties_by_origin(self, origins: Iterable[str]) -> dict[str, uuid.UUID]:
        origins = list(origins)
        if not origins:
            return {}
        rows = await self._origin_rows(origins)
        merged = await self._survivors_of_merged((pid, into) for _, pid, into in rows)
        return {origin: merged.get(pid, pid) for origin, pid, _ in rows}

    async def _origin_rows(self, origins: list[str]) -> list[Any]:
        """(origin, id, merged_into) of the parties of these origins."""
        p = parties
        rows = await self.session.execute(
            select(p.c.origin, p.c.id, p.c.merged_into).where(p.c.origin.in_(origins))
        )
        return list(rows)

    async def unmerged_provisional(self, party_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = sorted(set(party_ids))
        if not ids:
            return set()
        rows = await self.session.execute(
            select(parties.c.id).where(
                parties.c.id.in_(ids), parties.c.provisional, parties.c.merged_into.is_(None)
            )
        )
        return {r.id for r in rows}

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        if not party_ids:
            return {}
        rows = await self.session.execute(
            select(parties.c.id, parties.c.provisional, parties.c.version)
            .where(parties.c.id.in_(sorted(party_ids)))
            .order_by(parties.c.id)
            .with_for_update()
        )
        return {pid: Party(id=pid, provisional=p, version=v) for pid, p, v in rows}

    async def lock_party(self, party_id: uuid.UUID) -> Party:
        found = await self.lock_parties([party_id])
        if party_id not in found:
            raise LookupError("unknown party")
        return found[party_id]

    async def _merged_into_any(self, frontier: list[uuid.UUID]) -> list[Any]:
        """(id, merged_into) of the parties merged into any of ``frontier``."""
        rows = await self.session.execute(
            select(parties.c.id, parties.c.merged_into).where(parties.c.merged_into.in_(frontier))
        )
        return list(rows)

    async def families(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        members: dict[uuid.UUID, set[uuid.UUID]] = {p: {p} for p in party_ids}
        owner = {p: p for p in party_ids}
        frontier = list(party_ids)
        while frontier:
            rows = await self._merged_into_any(frontier)
            frontier = []
            for pid, merged_into in rows:
                if pid not in owner:
                    owner[pid] = owner[merged_into]
                    members[owner[pid]].add(pid)
                    frontier.append(pid)
        return {p: frozenset(m) for p, m in members.items()}

    async def party_exists(self, party_id: uuid.UUID) -> bool:
        found = await self.session.scalar(select(parties.c.id).where(parties.c.id == party_id))
        return found is not None

    async def is_provisional(self, party_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(select(parties.c.provisional).where(parties.c.id == party_id))
        )

    async def insert_parties(self, rows: list[dict[str, Any]]) -> None:
        await insert_many(self.session, parties.insert(), rows)

    async def insert_identifiers(self, items: list[NewIdentifier], *, now: datetime) -> None:
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
            for party_id, i, message_id in items
        ]
        await insert_many(self.session, party_identifiers.insert(), rows)

    # --- suggested links -------------------------------------------------------------

    async def insert_suggestions(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
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

    # --- cases ----------------------------------------------------------------------

    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        query = select(cases).where(cases.c.id == case_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else as_case(row._mapping)

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]:
        query = select(cases).where(cases.c.party_id.in_(list(party_ids)))
        if open_only:  # years of finished cases (an imported history) are not read per batch
            query = query.where(cases.c.status.in_([s.value for s in OPEN_STATUSES]))
        return [as_case(r._mapping) for r in await self.session.execute(query)]

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]:
        numbers = list(numbers)
        if not numbers:  # most batches quote no number
            return []
        query = select(cases).where(cases.c.number.in_(numbers))
        return [as_case(r._mapping) for r in await self.session.execute(query)]

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        refs = list(refs)
        if not refs:
            return {}
        rows = await self.session.execute(
            select(case_thread_refs.c.ref, cases)
            .join(cases, case_thread_refs.c.case_id == cases.c.id)
            .where(case_thread_refs.c.ref.in_(refs))
        )
        return {r.ref: as_case(r._mapping) for r in rows}

    async def next_case_numbers(self, year: int, count: int) -> list[str]:
        # One statement: the upsert locks the year's row until commit.
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
        rows = [case_row(c, due[c.id]) for c in new]
        await insert_many(self.session, cases.insert(), rows)

    async def touch_cases(self, case_ids: Iterable[uuid.UUID], now: datetime) -> None:
        case_ids = list(case_ids)
        if case_ids:
            await self.session.execute(
                update(cases).where(cases.c.id.in_(case_ids)).values(last_activity_at=now)
            )

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        if classified:
            await self.session.execute(
                update(cases)
                .where(cases.c.id == bindparam("cid"))
                .values(product=bindparam("p"), confidential=bindparam("c")),
                [{"cid": cid, "p": p, "c": c} for cid, (p, c) in classified.items()],
            )

    async def insert_thread_refs(self, refs: dict[str, uuid.UUID]) -> None:
        # A reference already tied to a case stays with it (a forwarded message may carry
        # the references of somebody else's conversation).
        await insert_many(
            self.session,
            upsert_insert(self.session, case_thread_refs).on_conflict_do_nothing(),
            [{"ref": r, "case_id": c} for r, c in refs.items()],
            postgres_suffix=_KEEP_EXISTING,
        )

    async def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        await insert_many(
            self.session,
            upsert_insert(self.session, contacts).on_conflict_do_nothing(),
            rows,
            postgres_suffix=_KEEP_EXISTING,
        )

    # --- events and transactions ------------------------------------------------------

    async def set_versions(self, versions: dict[uuid.UUID, int]) -> None:
        if versions:
            await self.session.execute(
                update(parties)
                .where(parties.c.id == bindparam("pid"))
                .values(version=bindparam("v")),
                [{"pid": p, "v": v} for p, v in versions.items()],
            )

    async def write_events(
        self, versions: dict[uuid.UUID, int], rows: list[dict[str, Any]]
    ) -> None:
        await self.set_versions(versions)
        await add_to_outbox(self.session, outbox, rows)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self.session.begin_nested():
            yield
