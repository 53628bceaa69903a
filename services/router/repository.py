"""Reading and writing parties and cases inside the batch's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, tuple_, update
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
    merge_effects,
    merges,
    parties,
    party_identifiers,
)
from shared.contracts import IdentifierKind, SenderIdentifier, Trust
from shared.db.bulk import postgres_driver
from shared.db.dialect import upsert_insert

# The columns a Case is made of, for the statements sent to asyncpg directly.
_CASE_COLUMNS = (
    "id, number, party_id, product, status, owner_team, opened_at, last_activity_at, "
    "confidential, handover_count, establishment"
)


def _case(row: Any) -> Case:
    """A case from a SQLAlchemy row's mapping or an asyncpg record."""
    return Case(
        id=row["id"],
        number=row["number"],
        party_id=row["party_id"],
        product=row["product"],
        status=row["status"],
        owner_team=row["owner_team"],
        opened_at=row["opened_at"],
        last_activity_at=row["last_activity_at"],
        confidential=row["confidential"],
        handover_count=row["handover_count"],
        establishment=row["establishment"],
    )


class Repository:
    """On PostgreSQL the statements a routed batch makes go to asyncpg directly, one per table
    with array parameters (``= ANY($1)``, ``unnest``) or a binary COPY for plain inserts:
    SQLAlchemy's per-row parameter processing was a fifth of the router's CPU. SQLite
    (demo, tests) takes the SQLAlchemy path; both are tested."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._driver: Any = None
        self._driver_known = False

    async def _pg(self) -> Any | None:
        """The asyncpg connection of the session's transaction, or None on SQLite."""
        if not self._driver_known:
            self._driver = await postgres_driver(self.session)
            self._driver_known = True
        return self._driver

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

    async def survivors(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Each party's survivor after merges: one query; chains followed for merged ones."""
        ids = sorted(set(party_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(parties.c.id, parties.c.merged_into).where(parties.c.id.in_(ids))
        )
        return {
            pid: pid if merged_into is None else await self.survivor(pid)
            for pid, merged_into in rows
        }

    async def holdings(self, identifiers: Iterable[SenderIdentifier]) -> list[Holding]:
        """Every party link to any of these identifiers, merged parties resolved."""
        pairs = {(i.kind.value, i.value) for i in identifiers}
        if not pairs:
            return []
        # By (kind, value), the lookup index: by value alone PostgreSQL scanned the whole
        # table for every batch (seconds per batch at a million imported contacts).
        kinds, values = zip(*sorted(pairs), strict=True)
        pg = await self._pg()
        rows: Any
        if pg is not None:
            rows = await pg.fetch(
                "SELECT i.party_id, i.kind, i.value, i.trust, p.merged_into "
                "FROM unnest($1::text[], $2::text[]) AS w(kind, value) "
                "JOIN party_identifiers i ON i.kind = w.kind AND i.value = w.value "
                "JOIN parties p ON p.id = i.party_id",
                list(kinds),
                list(values),
            )
        else:
            rows = (
                await self.session.execute(
                    select(
                        party_identifiers.c.party_id,
                        party_identifiers.c.kind,
                        party_identifiers.c.value,
                        party_identifiers.c.trust,
                        parties.c.merged_into,
                    )
                    .join(parties, parties.c.id == party_identifiers.c.party_id)
                    .where(
                        tuple_(party_identifiers.c.kind, party_identifiers.c.value).in_(
                            sorted(pairs)
                        )
                    )
                )
            ).all()
        found = []
        for party_id, kind, value, trust, merged_into in rows:
            if (kind, value) not in pairs:
                continue
            if merged_into is not None:
                party_id = await self.survivor(party_id)
            found.append(Holding(party_id, IdentifierKind(kind), value, Trust(trust)))
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
        pg = await self._pg()
        rows: Any
        if pg is not None:
            rows = await pg.fetch(
                "SELECT origin, id, merged_into FROM parties WHERE origin = ANY($1::text[])",
                origins,
            )
        else:
            rows = (
                await self.session.execute(
                    select(parties.c.origin, parties.c.id, parties.c.merged_into).where(
                        parties.c.origin.in_(origins)
                    )
                )
            ).all()
        return {
            origin: pid if merged_into is None else await self.survivor(pid)
            for origin, pid, merged_into in rows
        }

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        """Row-lock the parties (in id order, so replicas never deadlock on them)."""
        if not party_ids:
            return {}
        pg = await self._pg()
        rows: Any
        if pg is not None:
            rows = await pg.fetch(
                "SELECT id, provisional, version FROM parties WHERE id = ANY($1::uuid[]) "
                "ORDER BY id FOR UPDATE",
                sorted(party_ids),
            )
        else:
            rows = (
                await self.session.execute(
                    select(parties.c.id, parties.c.provisional, parties.c.version)
                    .where(parties.c.id.in_(sorted(party_ids)))
                    .order_by(parties.c.id)
                    .with_for_update()
                )
            ).all()
        return {
            pid: Party(id=pid, provisional=provisional, version=version)
            for pid, provisional, version in rows
        }

    async def families(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
        """Each party with every party (transitively) merged into it."""
        members: dict[uuid.UUID, set[uuid.UUID]] = {p: {p} for p in party_ids}
        owner = {p: p for p in party_ids}
        frontier = list(party_ids)
        pg = await self._pg()
        while frontier:
            rows: Any
            if pg is not None:
                rows = await pg.fetch(
                    "SELECT id, merged_into FROM parties WHERE merged_into = ANY($1::uuid[])",
                    frontier,
                )
            else:
                rows = (
                    await self.session.execute(
                        select(parties.c.id, parties.c.merged_into).where(
                            parties.c.merged_into.in_(frontier)
                        )
                    )
                ).all()
            frontier = []
            for pid, merged_into in rows:
                if pid not in owner:
                    owner[pid] = owner[merged_into]
                    members[owner[pid]].add(pid)
                    frontier.append(pid)
        return {p: frozenset(m) for p, m in members.items()}

    async def insert_parties(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pg = await self._pg()
        if pg is not None:
            await pg.copy_records_to_table(
                "parties",
                columns=["id", "provisional", "display_name", "origin", "version", "created_at"],
                records=[
                    (
                        r["id"],
                        r["provisional"],
                        r["display_name"],
                        r["origin"],
                        r["version"],
                        r["created_at"],
                    )
                    for r in rows
                ],
            )
            return
        await self.session.execute(parties.insert(), rows)

    async def insert_identifiers(
        self, items: list[tuple[uuid.UUID, SenderIdentifier, uuid.UUID | None]], *, now: datetime
    ) -> None:
        if not items:
            return
        pg = await self._pg()
        if pg is not None:
            await pg.copy_records_to_table(
                "party_identifiers",
                columns=[
                    "id",
                    "party_id",
                    "kind",
                    "value",
                    "trust",
                    "source_message_id",
                    "created_at",
                ],
                records=[
                    (uuid.uuid4(), party_id, i.kind.value, i.value, i.trust.value, message_id, now)
                    for party_id, i, message_id in items
                ],
            )
            return
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
        pg = await self._pg() if versions else None
        if pg is not None:
            await pg.execute(
                "UPDATE parties p SET version = u.version "
                "FROM unnest($1::uuid[], $2::bigint[]) AS u(id, version) WHERE p.id = u.id",
                list(versions),
                list(versions.values()),
            )
            return
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

    async def unmerged_provisional(self, party_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``party_ids`` that are provisional and not merged into another party."""
        ids = sorted(set(party_ids))
        if not ids:
            return set()
        rows = await self.session.execute(
            select(parties.c.id).where(
                parties.c.id.in_(ids), parties.c.provisional, parties.c.merged_into.is_(None)
            )
        )
        return {r.id for r in rows}

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

    async def record_merge_effects(
        self, merge_id: uuid.UUID, effects: list[dict[str, Any]], *, case_id: uuid.UUID | None
    ) -> None:
        if effects:
            await self.session.execute(
                merge_effects.insert(),
                [{"merge_id": merge_id, "case_id": case_id, "detail": None} | e for e in effects],
            )

    async def merge_effects_of(self, merge_id: uuid.UUID) -> list[Row[Any]]:
        rows = await self.session.execute(
            select(merge_effects).where(merge_effects.c.merge_id == merge_id)
        )
        return list(rows)

    async def verify_identifier(
        self, party_id: uuid.UUID, kind: IdentifierKind, value: str, now: datetime
    ) -> uuid.UUID:
        """The party now holds the address verified (a staff decision); returns the row id."""
        row_id = uuid.uuid4()
        await self.session.execute(
            party_identifiers.insert().values(
                id=row_id,
                party_id=party_id,
                kind=kind.value,
                value=value,
                trust=Trust.VERIFIED.value,
                source_message_id=None,
                created_at=now,
            )
        )
        return row_id

    async def remove_identifier(self, row_id: uuid.UUID) -> Any:
        """Delete an identifier row; returns what it held (None if it was gone already)."""
        t = party_identifiers
        row = (
            await self.session.execute(
                select(t.c.party_id, t.c.kind, t.c.value, t.c.trust).where(t.c.id == row_id)
            )
        ).one_or_none()
        if row is not None:
            await self.session.execute(t.delete().where(t.c.id == row_id))
        return row

    # --- cases ----------------------------------------------------------------------

    async def final_case(self, case_id: uuid.UUID) -> uuid.UUID:
        """Follow folds (``merged_into``) to the case that holds a folded case's contacts."""
        seen = {case_id}
        current = case_id
        for _ in range(32):
            into = await self.session.scalar(
                select(cases.c.merged_into).where(cases.c.id == current)
            )
            if into is None or into in seen:
                break
            seen.add(into)
            current = into
        return current

    async def case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        query = select(cases).where(cases.c.id == case_id)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _case(row._mapping)

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]:
        party_ids = list(party_ids)
        pg = await self._pg()
        if pg is not None:
            if not party_ids:
                return []
            if open_only:
                found = await pg.fetch(
                    f"SELECT {_CASE_COLUMNS} FROM cases "  # noqa: S608 - constant columns
                    "WHERE party_id = ANY($1::uuid[]) AND status = ANY($2::text[])",
                    party_ids,
                    list(OPEN_STATUSES),
                )
            else:
                found = await pg.fetch(
                    f"SELECT {_CASE_COLUMNS} FROM cases WHERE party_id = ANY($1::uuid[])",  # noqa: S608
                    party_ids,
                )
            return [_case(r) for r in found]
        query = select(cases).where(cases.c.party_id.in_(party_ids))
        if open_only:  # years of finished cases (an imported history) are not read per batch
            query = query.where(cases.c.status.in_(OPEN_STATUSES))
        rows = await self.session.execute(query)
        return [_case(r._mapping) for r in rows]

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]:
        numbers = list(numbers)
        if not numbers:
            return []
        pg = await self._pg()
        if pg is not None:
            found = await pg.fetch(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE number = ANY($1::text[])",  # noqa: S608
                numbers,
            )
            return [_case(r) for r in found]
        rows = await self.session.execute(select(cases).where(cases.c.number.in_(numbers)))
        return [_case(r._mapping) for r in rows]

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        refs = list(refs)
        if not refs:
            return {}
        pg = await self._pg()
        if pg is not None:
            found = await pg.fetch(
                "SELECT r.ref, c.* FROM case_thread_refs r JOIN cases c ON c.id = r.case_id "
                "WHERE r.ref = ANY($1::text[])",
                refs,
            )
            return {r["ref"]: _case(r) for r in found}
        rows = await self.session.execute(
            select(case_thread_refs.c.ref, cases)
            .join(cases, case_thread_refs.c.case_id == cases.c.id)
            .where(case_thread_refs.c.ref.in_(refs))
        )
        return {r.ref: _case(r._mapping) for r in rows}

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
        if not new:
            return
        pg = await self._pg()
        if pg is not None:
            await pg.copy_records_to_table(
                "cases",
                columns=[
                    "id",
                    "number",
                    "party_id",
                    "product",
                    "confidential",
                    "status",
                    "owner_team",
                    "handover_count",
                    "opened_at",
                    "last_activity_at",
                    "due_at",
                    "establishment",
                ],
                records=[
                    (
                        c.id,
                        c.number,
                        c.party_id,
                        c.product,
                        c.confidential,
                        c.status,
                        c.owner_team,
                        0,
                        c.opened_at,
                        c.last_activity_at,
                        due[c.id],
                        c.establishment,
                    )
                    for c in new
                ],
            )
            return
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
        pg = await self._pg() if case_ids else None
        if pg is not None:
            await pg.execute(
                "UPDATE cases SET last_activity_at = $2 WHERE id = ANY($1::uuid[])", case_ids, now
            )
        elif case_ids:
            await self.session.execute(
                update(cases).where(cases.c.id.in_(case_ids)).values(last_activity_at=now)
            )

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        pg = await self._pg() if classified else None
        if pg is not None:
            await pg.execute(
                "UPDATE cases c SET product = u.product, confidential = u.confidential "
                "FROM unnest($1::uuid[], $2::text[], $3::boolean[]) AS u(id, product, "
                "confidential) WHERE c.id = u.id",
                list(classified),
                [p for p, _ in classified.values()],
                [c for _, c in classified.values()],
            )
            return
        for case_id, (product, confidential) in classified.items():
            await self.session.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(product=product, confidential=confidential)
            )

    async def insert_contacts(self, rows: list[dict[str, Any]]) -> None:
        pg = await self._pg() if rows else None
        if pg is not None:
            await pg.execute(
                "INSERT INTO contacts (message_id, case_id, referenced_case_id) "
                "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) ON CONFLICT DO NOTHING",
                [r["message_id"] for r in rows],
                [r["case_id"] for r in rows],
                [r["referenced_case_id"] for r in rows],
            )
            return
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
        self,
        case_id: uuid.UUID,
        into: uuid.UUID,
        *,
        result: str,
        now: datetime,
        merge_id: uuid.UUID,
        status_before: str,
    ) -> None:
        """Fold a case into another (its contacts and references move, it closes), and note
        in ``merge_effects`` what moved, so that undoing the merge can move it back."""
        moved_contacts = (
            await self.session.scalars(
                select(contacts.c.message_id).where(contacts.c.case_id == case_id)
            )
        ).all()
        moved_refs = (
            await self.session.scalars(
                select(case_thread_refs.c.ref).where(case_thread_refs.c.case_id == case_id)
            )
        ).all()
        effects = [{"kind": "fold", "key": str(case_id), "case_id": into, "detail": status_before}]
        effects += [{"kind": "contact", "key": str(m)} for m in moved_contacts]
        effects += [{"kind": "ref", "key": r} for r in moved_refs]
        await self.record_merge_effects(merge_id, effects, case_id=case_id)
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

    async def unfold_case(
        self, case_id: uuid.UUID, *, message_ids: list[uuid.UUID], refs: list[str], status: str
    ) -> None:
        """Undo a fold: the contacts and references it moved come back, the case reopens
        with the status it had (contacts that joined the other case later stay there)."""
        if message_ids:
            await self.session.execute(
                update(contacts)
                .where(contacts.c.message_id.in_(message_ids))
                .values(case_id=case_id)
            )
        if refs:
            await self.session.execute(
                update(case_thread_refs)
                .where(case_thread_refs.c.ref.in_(refs))
                .values(case_id=case_id)
            )
        await self.session.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(status=status, result=None, closed_at=None, merged_into=None)
        )

    async def insert_thread_refs(self, refs: dict[str, uuid.UUID]) -> None:
        pg = await self._pg() if refs else None
        if pg is not None:
            await pg.execute(
                "INSERT INTO case_thread_refs (ref, case_id) "
                "SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING",
                list(refs),
                list(refs.values()),
            )
            return
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
