"""What the router's dropped foreign keys guarded, checked on demand: rows that refer to a
party or case that does not exist (migration 0008). Zero on a healthy database; the
PostgreSQL routing tests assert it, and ops run it as `eenloket routing integrity`."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# (what refers, its column, the table referred to)
REFERENCES = [
    ("party_identifiers", "party_id", "parties"),
    ("link_suggestions", "party_id", "parties"),
    ("link_suggestions", "suggested_party_id", "parties"),
    ("cases", "party_id", "parties"),
    ("contacts", "case_id", "cases"),
]


async def orphans(session: AsyncSession) -> dict[str, int]:
    """``"table.column"`` -> how many rows refer to nothing."""
    found: dict[str, int] = {}
    for table, column, parent in REFERENCES:
        count = await session.scalar(
            text(
                f"SELECT count(*) FROM {table} c "  # noqa: S608 - our own table names
                f"WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
            )
        )
        found[f"{table}.{column}"] = int(count or 0)
    return found
