"""Bulk import, end to end: the import stage (bench/import_stage.py) fills a fresh topic
with N historical contacts; then a router and a caseview process (real processes, fresh
databases) route and project that topic, and the run counts the contacts visible in
caseview's timeline (rows with a message id) until all are there or the time cap is
reached. The import and the routing run one after the other here, so the end-to-end
time is their sum (in production they would overlap)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench import procstat
from bench.infra import migrated_database, plain
from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.devstack import run_services


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def run(
    bootstrap: str, dsn: str, *, contacts: int, cap_seconds: float, logs: Path, workdir: Path
) -> dict[str, Any]:
    from bench.import_stage import run_import_stage  # written separately; optional

    before = await _topics(bootstrap)
    imported = await run_import_stage(bootstrap, dsn, contacts, workdir)
    out: dict[str, Any] = {k: round(v, 2) for k, v in imported.items()}
    new = sorted(t for t in await _topics(bootstrap) - before if t.startswith("bench.import."))
    if len(new) != 1 or cap_seconds <= 0:
        out["end_to_end"] = "not measured"
        return out
    suffix = uuid.uuid4().hex[:6]
    urls = {
        "router": await migrated_database(dsn, "eenloket_bench_import_router", ROUTER_MIGRATIONS),
        "caseview": await migrated_database(
            dsn, "eenloket_bench_import_caseview", CASEVIEW_MIGRATIONS
        ),
    }
    env = {
        name: {
            "EENLOKET_ENVIRONMENT": "test",
            "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
            "EENLOKET_DATABASE_URL": url,
            "EENLOKET_CONSUMER_GROUP": f"bench-import-{name}-{suffix}",
            "EENLOKET_LOG_LEVEL": "WARNING",
            "EENLOKET_TOPIC_INBOUND": new[0],
            "EENLOKET_TOPIC_TIMELINE": f"bench.import.timeline.{suffix}",
            "EENLOKET_TOPIC_COMMANDS": f"bench.import.commands.{suffix}",
            "EENLOKET_TOPIC_DEADLETTER": f"bench.import.deadletter.{suffix}",
        }
        for name, url in urls.items()
    }
    conn = await asyncpg.connect(plain(urls["caseview"]))
    try:
        with run_services(env, logs / "import") as services:
            began = time.perf_counter()
            visible, last = 0, 0
            while visible < contacts and time.perf_counter() - began < cap_seconds:
                row = await conn.fetchrow(
                    "SELECT count(message_id) AS n, max(position) AS p FROM timeline_entries "
                    "WHERE position > $1",
                    last,
                )
                assert row is not None
                visible += int(row["n"])
                last = int(row["p"] or last)
                await asyncio.sleep(0.25)
            seconds = time.perf_counter() - began
            memory = {
                n: round(procstat.peak_rss_mib(s.process.pid), 1) for n, s in services.items()
            }
    finally:
        await conn.close()
    rate = visible / seconds if seconds else 0.0
    out.update(
        {
            "routed_contacts": contacts,
            "visible": visible,
            "complete": visible >= contacts,
            "routing_seconds": round(seconds, 1),
            "visible_per_second": round(rate),
            "end_to_end_seconds": round(imported["seconds"] + seconds, 1)
            if visible >= contacts
            else None,
            # Extrapolation, not a measurement: 1,000,000 at the two measured rates, in turn.
            "extrapolated_1m_minutes": round((1e6 / imported["per_second"] + 1e6 / rate) / 60, 1)
            if rate
            else None,
            "peak_rss_mib": memory,
        }
    )
    return out
