"""Comparing two copies of the read models: the live tables and a rebuild's shadow.

A hash per table says *whether* they differ (cheap, streamed); for a table that differs,
digests per column of each row, keyed by the table's natural key, say *which* rows: only in
the rebuild, only live, or in both with other content. The operator sees counts and the
first keys per table and, for rows in both, which columns differ (``eenloket caseview
rebuild``), never row contents (they hold personal data).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import PROJECTION_TABLES

# Columns that say *when or in which order* something was stored, not what: left out of
# the comparison. ``position`` is the live-stream cursor, assigned in commit order.
UNHASHED = {"timeline_entries": {"position"}}
KEYS = {
    "parties": ("id",),
    "party_name_keys": ("key", "party_id"),
    "party_identifiers": ("party_id", "kind", "value"),
    "link_suggestions": ("suggestion_id",),
    "party_merges": ("merge_id",),
    "cases": ("id",),
    "case_participants": ("case_id", "team"),
    "case_handovers": ("event_id",),
    "timeline_entries": ("event_id",),
    "command_outcomes": ("command_id",),
    "replies": ("reply_id",),
    "reply_statuses": ("event_id",),
    "contact_preferences": ("party_id",),
}
FIRST_KEYS = 5  # how many differing keys a report names per table
# Keys that hold personal data (an identifier's value, a normalised name) are named in a
# report by their ids only: the first parts of the key, up to here.
NAMED_BY = {"party_identifiers": 1, "party_name_keys": 1}


@dataclass(frozen=True)
class TableDifference:
    table: str
    only_rebuilt: int  # rows the rebuild has and the live table lacks
    only_live: int  # rows the live table has and the rebuild lacks
    changed: int  # rows in both, with other content
    first: tuple[str, ...]  # the first differing keys, sorted (ids, numbers: no content)
    columns: tuple[str, ...] = ()  # the columns that differ in the changed rows (names only)

    def describe(self) -> str:
        columns = f" (columns: {', '.join(self.columns)})" if self.columns else ""
        return (
            f"{self.table}: {self.only_rebuilt} only rebuilt, {self.only_live} only live, "
            f"{self.changed} changed{columns}; first: {', '.join(self.first)}"
        )


_shadow_metadata: dict[str, MetaData] = {}


def in_schema(table: Table, schema: str | None) -> Table:
    """The table as it is in ``schema`` (the shadow), or itself (live)."""
    if schema is None:
        return table
    md = _shadow_metadata.setdefault(schema, MetaData())
    existing = md.tables.get(f"{schema}.{table.name}")
    return existing if existing is not None else table.to_metadata(md, schema=schema)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _compared(table: Table) -> list[Any]:
    return [c for c in table.c if c.name not in UNHASHED.get(table.name, set())]


async def projection_hash(
    session: AsyncSession, schema: str | None = None
) -> tuple[str, dict[str, str]]:
    """A deterministic SHA-256 over every projection table (rows in key order), and per table."""
    per_table: dict[str, str] = {}
    whole = hashlib.sha256()
    for live in PROJECTION_TABLES:
        table = in_schema(live, schema)
        order = [table.c[name] for name in KEYS[live.name]]
        digest = hashlib.sha256()
        result = await session.stream(select(*_compared(table)).order_by(*order))
        async for row in result:
            doc = [_jsonable(v) for v in row]
            digest.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
        per_table[live.name] = digest.hexdigest()
        whole.update(f"{live.name}:{per_table[live.name]}\n".encode())
    return whole.hexdigest(), per_table


async def _row_digests(session: AsyncSession, table: Table) -> dict[str, tuple[bytes, ...]]:
    """Per row (by its key), a digest per compared column: which rows differ, and in what."""
    keys = KEYS[table.name]
    if table.name == "party_name_keys":
        keys = ("party_id", "key")  # the id first: reports name rows by it (NAMED_BY)
    digests: dict[str, tuple[bytes, ...]] = {}
    result = await session.stream(select(*_compared(table)))
    async for row in result:
        key = "/".join(str(_jsonable(row._mapping[k])) for k in keys)
        digests[key] = tuple(
            hashlib.blake2b(orjson.dumps(_jsonable(v)), digest_size=16).digest() for v in row
        )
    return digests


def _named(table: str, keys: list[str]) -> tuple[str, ...]:
    """The first differing keys as a report names them: no personal data (NAMED_BY)."""
    parts = NAMED_BY.get(table)
    named = keys if parts is None else ["/".join(k.split("/")[:parts]) for k in keys]
    return tuple(dict.fromkeys(named))[:FIRST_KEYS]


async def differences(
    session: AsyncSession, schema: str, tables: list[str]
) -> list[TableDifference]:
    """Which rows of these tables differ between the shadow in ``schema`` and live."""
    by_name = {t.name: t for t in PROJECTION_TABLES}
    found = []
    for name in tables:
        rebuilt = await _row_digests(session, in_schema(by_name[name], schema))
        live = await _row_digests(session, by_name[name])
        only_rebuilt = rebuilt.keys() - live.keys()
        only_live = live.keys() - rebuilt.keys()
        changed = {k for k in rebuilt.keys() & live.keys() if rebuilt[k] != live[k]}
        differing = sorted(only_rebuilt | only_live | changed)
        if differing:
            names = [c.name for c in _compared(by_name[name])]
            columns = {
                names[i]
                for k in changed
                for i, (a, b) in enumerate(zip(rebuilt[k], live[k], strict=True))
                if a != b
            }
            found.append(
                TableDifference(
                    name,
                    len(only_rebuilt),
                    len(only_live),
                    len(changed),
                    _named(name, differing),
                    tuple(n for n in names if n in columns),
                )
            )
    return found


async def compare(session: AsyncSession, schema: str) -> tuple[str, str, list[TableDifference]]:
    """Hashes of the shadow and the live projection, and the differences when they differ."""
    shadow_hash, shadow_tables = await projection_hash(session, schema)
    live_hash, live_tables = await projection_hash(session, None)
    differing = [name for name in live_tables if live_tables[name] != shadow_tables[name]]
    found = await differences(session, schema, differing) if differing else []
    return shadow_hash, live_hash, found
