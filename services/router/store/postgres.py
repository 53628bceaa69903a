"""``RouterStore`` on PostgreSQL: the statements of a routed batch go to the asyncpg
connection of the session's transaction, one per table with array parameters (``=
ANY($1)``, ``unnest``); SQLAlchemy's per-row parameter processing was a fifth of the
router's CPU. Plain inserts go through ``shared.db.bulk.insert_many`` (inherited from
``SqlStore``, which sends them as one ``unnest`` statement here); the commands' single-row
statements are ``SqlStore``'s."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.model import Case, Party
from services.router.orm import link_suggestions
from services.router.store.sql import SqlStore
from services.router.store.sql_commands import as_case
from shared.contracts import OPEN_STATUSES
from shared.db.bulk import unnest_insert

# The columns a Case is made of.
_CASE_COLUMNS = (
    "id, number, party_id, product, status, owner_team, opened_at, last_activity_at, "
    "confidential, handover_count, establishment"
)
_OPEN = [s.value for s in OPEN_STATUSES]


class PostgresStore(SqlStore):
    def __init__(self, session: AsyncSession, driver: Any) -> None:
        super().__init__(session)
        self.pg = driver  # the asyncpg connection (shared.db.bulk.postgres_driver)

    async def _holding_rows(self, pairs: list[tuple[str, str]]) -> list[Any]:
        # By (kind, value), the lookup index: by value alone PostgreSQL scanned the whole
        # table for every batch (seconds per batch at a million imported contacts).
        kinds, values = zip(*pairs, strict=True)
        rows: list[Any] = await self.pg.fetch(
            "SELECT i.party_id, i.kind, i.value, i.trust, p.merged_into, p.provisional "
            "FROM unnest($1::text[], $2::text[]) AS w(kind, value) "
            "JOIN party_identifiers i ON i.kind = w.kind AND i.value = w.value "
            "JOIN parties p ON p.id = i.party_id",
            list(kinds),
            list(values),
        )
        return rows

    async def _origin_rows(self, origins: list[str]) -> list[Any]:
        rows: list[Any] = await self.pg.fetch(
            "SELECT origin, id, merged_into FROM parties WHERE origin = ANY($1::text[])", origins
        )
        return rows

    async def lock_parties(self, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, Party]:
        if not party_ids:
            return {}
        rows = await self.pg.fetch(
            "SELECT id, provisional, version FROM parties WHERE id = ANY($1::uuid[]) "
            "ORDER BY id FOR UPDATE",
            sorted(party_ids),
        )
        return {pid: Party(id=pid, provisional=p, version=v) for pid, p, v in rows}

    async def _merged_into_any(self, frontier: list[uuid.UUID]) -> list[Any]:
        rows: list[Any] = await self.pg.fetch(
            "SELECT id, merged_into FROM parties WHERE merged_into = ANY($1::uuid[])", frontier
        )
        return rows

    async def cases_of(
        self, party_ids: Iterable[uuid.UUID], *, open_only: bool = False
    ) -> list[Case]:
        party_ids = list(party_ids)
        if not party_ids:
            return []
        if open_only:  # years of finished cases (an imported history) are not read per batch
            found = await self.pg.fetch(
                f"SELECT {_CASE_COLUMNS} FROM cases "  # noqa: S608 - constant columns
                "WHERE party_id = ANY($1::uuid[]) AND status = ANY($2::text[])",
                party_ids,
                _OPEN,
            )
        else:
            found = await self.pg.fetch(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE party_id = ANY($1::uuid[])",  # noqa: S608
                party_ids,
            )
        return [as_case(r) for r in found]

    async def cases_by_numbers(self, numbers: Iterable[str]) -> list[Case]:
        numbers = list(numbers)
        if not numbers:
            return []
        found = await self.pg.fetch(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE number = ANY($1::text[])",  # noqa: S608
            numbers,
        )
        return [as_case(r) for r in found]

    async def cases_by_refs(self, refs: Iterable[str]) -> dict[str, Case]:
        refs = list(refs)
        if not refs:
            return {}
        found = await self.pg.fetch(
            "SELECT r.ref, c.* FROM case_thread_refs r JOIN cases c ON c.id = r.case_id "
            "WHERE r.ref = ANY($1::text[])",
            refs,
        )
        return {r["ref"]: as_case(r) for r in found}

    async def touch_cases(self, case_ids: Iterable[uuid.UUID], now: datetime) -> None:
        case_ids = list(case_ids)
        if case_ids:
            await self.pg.execute(
                "UPDATE cases SET last_activity_at = $2 WHERE id = ANY($1::uuid[])", case_ids, now
            )

    async def classify_cases(self, classified: dict[uuid.UUID, tuple[str | None, bool]]) -> None:
        if classified:
            await self.pg.execute(
                "UPDATE cases c SET product = u.product, confidential = u.confidential "
                "FROM unnest($1::uuid[], $2::text[], $3::boolean[]) AS u(id, product, "
                "confidential) WHERE c.id = u.id",
                list(classified),
                [p for p, _ in classified.values()],
                [c for _, c in classified.values()],
            )

    async def set_versions(self, versions: dict[uuid.UUID, int]) -> None:
        if versions:
            await self.pg.execute(
                "UPDATE parties p SET version = u.version "
                "FROM unnest($1::uuid[], $2::bigint[]) AS u(id, version) WHERE p.id = u.id",
                list(versions),
                list(versions.values()),
            )

    async def insert_suggestions(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """One statement for the batch (a statement per suggestion was 44 % of the router's
        CPU once typed addresses only suggest); RETURNING tells which pairs were new. In pair
        order, so concurrent batches take the unique index's locks in one order."""
        if not rows:
            return set()
        rows = sorted(rows, key=lambda r: (r["party_id"], r["suggested_party_id"]))
        statement = unnest_insert(link_suggestions, rows, "ON CONFLICT DO NOTHING RETURNING id")
        new = await self.pg.fetch(*statement)
        return {r["id"] for r in new}
