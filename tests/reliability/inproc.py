"""Shared kit of the in-process reliability tests (R3, R4, R5, R10, S1, security).

The services run in this process (their FastAPI apps with lifespan, as in production
but without a socket), on the session's real Kafka broker and PostgreSQL server.
Everything here only observes: reading topics to their end, consumer lag, a hash over
a database's tables, and the JSON run history every test leaves behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.router.bootstrap import create_app as create_router
from services.router.config import RouterSettings
from shared.db.engine import create_engine
from shared.db.migrations import upgrade
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.reliability.conftest import HISTORY_DIR, SCALE

__all__ = [
    "CASEVIEW_MIGRATIONS",
    "database_rows",
    "drain",
    "end_offsets",
    "fresh_database",
    "kafka_lag",
    "record_history",
    "rows_diff",
    "rows_hash",
    "running_router",
]


async def fresh_database(pg_dsn: str, migrations: Path, prefix: str, revision: str = "head") -> str:
    """A new PostgreSQL database of its own, migrated to ``revision`` (for tests that
    replace whole tables or change the schema)."""
    import asyncio

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"{pg_dsn}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    await asyncio.to_thread(upgrade, migrations, url, revision)
    return url


@dataclass
class RunningRouter:
    app: FastAPI
    settings: RouterSettings


@contextlib.asynccontextmanager
async def running_router(settings: RouterSettings) -> AsyncIterator[RunningRouter]:
    """The router's whole composition (consumer, outbox relay, gauges) in this process."""
    app = create_router(settings)
    async with serve(app):
        yield RunningRouter(app, settings)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: int(n) for tp, n in ends.items()}


async def kafka_lag(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """End offset minus the group's committed offset, per partition (Kafka's own view)."""
    ends = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        lag = {}
        for partition, end in ends.items():
            committed = await consumer.committed(TopicPartition(topic, partition))
            lag[partition] = end - (committed or 0)
    finally:
        await consumer.stop()
    return lag


async def drain(
    bootstrap: str, topic: str, *, timeout: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to its end offsets as they are now."""
    ends = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"drain-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    tps = [TopicPartition(topic, p) for p in ends]
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + timeout
        position = dict.fromkeys(ends, 0)
        while any(position[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            batch = await consumer.getmany(timeout_ms=200)
            for tp, rs in batch.items():
                for r in rs:
                    if r.offset < ends[tp.partition]:
                        records.append(r)
                if rs:
                    position[tp.partition] = rs[-1].offset + 1
    finally:
        await consumer.stop()
    return records


def event_ids(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[uuid.UUID]:
    return [CloudEvent.from_json(r.value).id for r in records if r.value is not None]


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


async def database_rows(
    engine: AsyncEngine,
    *,
    tables: Iterable[str] | None = None,
    skip_tables: Iterable[str] = (),
    skip_columns: dict[str, set[str]] | None = None,
    where: dict[str, Any] | None = None,
) -> dict[str, list[bytes]]:
    """The contents of a database's tables, found by reflection (a table or column added
    later is included without anyone listing it here): per table, each row as canonical
    JSON, sorted, so neither insertion order nor surrogate keys matter.

    ``skip_columns`` names the columns left out (the caller says why); ``where`` maps a
    table name to a function giving a filter clause for that table.
    """
    skip_columns = skip_columns or {}
    where = where or {}
    metadata = MetaData()
    out: dict[str, list[bytes]] = {}
    async with engine.connect() as conn:
        await conn.run_sync(lambda c: metadata.reflect(c))
        wanted = set(tables) if tables is not None else set(metadata.tables)
        for name in sorted(wanted - set(skip_tables)):
            table = metadata.tables[name]
            columns = [c for c in table.c if c.name not in skip_columns.get(name, set())]
            query = select(*columns)
            if name in where:
                query = query.where(where[name](table))
            rows = (await conn.execute(query)).all()
            out[name] = sorted(
                orjson.dumps(
                    {str(c.name): _canonical(v) for c, v in zip(columns, row, strict=True)},
                    option=orjson.OPT_SORT_KEYS,
                )
                for row in rows
            )
    return out


def rows_hash(rows: dict[str, list[bytes]]) -> tuple[str, dict[str, str]]:
    """SHA-256 over ``database_rows``: the whole, and per table."""
    per_table = {name: hashlib.sha256(b"\n".join(docs)).hexdigest() for name, docs in rows.items()}
    whole = hashlib.sha256("".join(f"{n}:{h}\n" for n, h in sorted(per_table.items())).encode())
    return whole.hexdigest(), per_table


def rows_diff(
    before: dict[str, list[bytes]], after: dict[str, list[bytes]], limit: int = 20
) -> dict[str, dict[str, list[Any]]]:
    """Rows only before / only after, per differing table (for the run history)."""
    diff: dict[str, dict[str, list[Any]]] = {}
    for name in sorted(set(before) | set(after)):
        b, a = Counter(before.get(name, [])), Counter(after.get(name, []))
        if b != a:
            diff[name] = {
                "only_before": [orjson.loads(r) for r in list((b - a).elements())[:limit]],
                "only_after": [orjson.loads(r) for r in list((a - b).elements())[:limit]],
            }
    return diff


def record_history(test: str, history: dict[str, Any]) -> Path:
    """Write the run's history as JSON (HISTORY_DIR), so a failure can be analysed later."""
    HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = HISTORY_DIR / f"{test}-{SCALE}-{stamp}-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"test": test, "scale": SCALE, **history}, indent=1, default=str))
    return path


def engine_for(url: str) -> AsyncEngine:
    return create_engine(url)


async def router_caught_up(
    url: str, group: str, topic: str, ids: Iterable[uuid.UUID], *, timeout: float = 300
) -> None:
    """Wait until the router applied every id (its processed_events) and its outbox for
    ``topic`` is empty (everything it decided is on the timeline topic)."""
    from sqlalchemy import func

    from services.router import orm as rt
    from tests.support import eventually

    wanted = list(ids)
    engine = create_engine(url)
    p, o = rt.processed_events, rt.outbox

    async def done() -> bool:
        async with engine.connect() as conn:
            applied = 0
            for start in range(0, len(wanted), 5000):
                chunk = wanted[start : start + 5000]
                applied += int(
                    await conn.scalar(
                        select(func.count())
                        .select_from(p)
                        .where(p.c.consumer_group == group, p.c.event_id.in_(chunk))
                    )
                    or 0
                )
            left = await conn.scalar(
                select(func.count())
                .select_from(o)
                .where(o.c.topic == topic, o.c.published_at.is_(None))
            )
        return applied == len(wanted) and left == 0

    try:
        await eventually(done, timeout=timeout, interval=0.3)
    finally:
        await engine.dispose()
