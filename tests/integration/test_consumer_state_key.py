"""processed_events is keyed (event_id, consumer_group): the consumer's per-batch lookup of
its event ids is an index lookup even before PostgreSQL has statistics for the table.

With the v1 key (consumer_group, event_id), a new database planned that lookup as "index on
the group, filter the ids" and read every row of the group per batch (the end-to-end
benchmark's first minutes, docs/benchmarks.md round 4).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import MetaData, insert, select

from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.engine import POSTGRES_SERVER_SETTINGS, create_engine
from shared.db.migrations import alembic_config, upgrade
from shared.db.tables import processed_events_table
from tests.reliability.inproc import fresh_database

# (migrations, the revision before the key changed)
TABLE = processed_events_table(MetaData())
SERVICES = {"router": (ROUTER_MIGRATIONS, "0002"), "caseview": (CASEVIEW_MIGRATIONS, "0001")}
LOOKUP = (
    "SELECT event_id FROM processed_events WHERE consumer_group = $1 AND event_id = ANY($2::uuid[])"
)


def _index_conditions(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(node.get("Index Cond", ""), node.get("Filter"))] if "Index Cond" in node else []
    for child in node.get("Plans", []):
        found += _index_conditions(child)
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_lookup_by_event_id_uses_the_key_without_statistics(
    pg_dsn: str, service: str
) -> None:
    migrations, _ = SERVICES[service]
    url = await fresh_database(pg_dsn, migrations, f"eenloket_test_key_{service}")
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn, server_settings=POSTGRES_SERVER_SETTINGS)
    try:
        key = await conn.fetchval(
            "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = 'processed_events'::regclass AND i.indisprimary"
        )
        assert key == ["event_id", "consumer_group"]
        group = f"g-{uuid.uuid4().hex[:8]}"
        now = dt.datetime.now(dt.UTC)
        await conn.copy_records_to_table(
            "processed_events",
            records=[(group, uuid.uuid4(), now) for _ in range(20_000)],
            columns=["consumer_group", "event_id", "processed_at"],
        )
        # No ANALYZE: the state of a table autovacuum has not visited yet.
        ids = [uuid.uuid4() for _ in range(50)]
        plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {LOOKUP}", group, ids))
        conditions = _index_conditions(plan[0]["Plan"])
        assert conditions, plan
        for condition, row_filter in conditions:
            assert "event_id = ANY" in condition, plan
            assert row_filter is None, plan
    finally:
        await conn.close()


def _row(group: str, event_id: str) -> dict[str, Any]:
    return {
        "consumer_group": group,
        "event_id": uuid.UUID(event_id),
        "processed_at": dt.datetime.now(dt.UTC),
    }


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_the_key_change_keeps_every_row_both_ways(
    pg_dsn: str, tmp_path: Path, service: str, backend: str
) -> None:
    migrations, before = SERVICES[service]
    if backend == "postgresql":
        url = await fresh_database(pg_dsn, migrations, f"eenloket_test_key_{service}", before)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / service}.db"
        await asyncio.to_thread(upgrade, migrations, url, before)
    rows = [(f"g-{i % 3}", str(uuid.uuid4())) for i in range(30)]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for group, event_id in rows:
                await conn.execute(insert(TABLE).values(**_row(group, event_id)))

        async def stored() -> set[tuple[str, str]]:
            async with engine.connect() as conn:
                result = await conn.execute(select(TABLE.c.consumer_group, TABLE.c.event_id))
                return {(g, str(e)) for g, e in result}

        await asyncio.to_thread(upgrade, migrations, url)
        await engine.dispose()
        assert await stored() == set(rows)
        # The key still refuses a second row for the same group and event.
        group, event_id = rows[0]
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            async with engine.begin() as conn:
                await conn.execute(insert(TABLE).values(**_row(group, event_id)))
        await asyncio.to_thread(command.downgrade, alembic_config(migrations, url), before)
        await engine.dispose()
        assert await stored() == set(rows)
    finally:
        await engine.dispose()


async def test_service_connections_plan_each_statement_for_its_values(
    pg_urls: dict[str, str],
) -> None:
    """A generic plan cached while a table was nearly empty would stay while it grows; JIT
    compiled short statements for longer than they run."""
    engine = create_engine(pg_urls["caseview"])
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SHOW plan_cache_mode")).scalar() == (
                "force_custom_plan"
            )
            assert (await conn.exec_driver_sql("SHOW jit")).scalar() == "off"
    finally:
        await engine.dispose()
