"""Caseview stage: projected events per second from a pre-filled ``omni.timeline.v1``, and
the latency of a party's first timeline page with 1,000,000 rows in the table.

One caseview process (`python -m services.caseview serve`) on PostgreSQL. The
history is realistic: parties with a case and contacts, one party with 1,000
entries. The table is then filled up to 1,000,000 rows with SQL, and the
timeline page is read over HTTP with a token (each read also writes its
access-log entry, as in production).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import func, select

from services.caseview import orm
from services.caseview.auth import mint_token
from shared.contracts import (
    CaseOpened,
    Channel,
    MessageRouted,
    PartyCreated,
    RoutingExplanation,
    to_cloudevent,
)
from shared.db.engine import create_engine, session_factory
from shared.devstack import run_services
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics

SOURCE = source_urn("00000000000000000000", "eenloket-router")
EXPLANATION = RoutingExplanation(
    case_rule="new-case",
    case_detail="-",
    owner_rule="default-owner",
    owner_detail="-",
    ruleset_version="bench",
)


@dataclass
class CaseviewResult:
    events: int
    seconds: float
    table_rows: int
    reads: int
    p50_ms: float
    p99_ms: float

    @property
    def projected_per_second(self) -> float:
        return self.events / self.seconds


def history(party: uuid.UUID, contacts: int, start: datetime) -> list[CloudEvent]:
    case = uuid.uuid4()
    payloads = [
        PartyCreated(
            party_id=party,
            provisional=False,
            display_name="Bench",
            identifiers=[],
            created_at=start,
        ),
        CaseOpened(
            case_id=case,
            case_number=f"ZAAK-2026-{uuid.uuid4().int % 10**10:010d}",
            party_id=party,
            product="paspoort",
            owner_team="burgerzaken",
            status="open",
            opened_at=start,
        ),
    ]
    for n in range(contacts):
        payloads.append(
            MessageRouted(
                message_id=uuid.uuid4(),
                party_id=party,
                case_id=case,
                case_number="ZAAK-2026-0000000000",
                channel=Channel.EMAIL,
                received_at=start + timedelta(seconds=n),
                display_name="Bench",
                subject="Vraag",
                text="Wanneer is mijn paspoort klaar?",
                attachments=[],
                owner_team="burgerzaken",
                explanation=EXPLANATION,
            )
        )
    return [
        to_cloudevent(p, source=SOURCE, subject=party, sequence=n + 1)
        for n, p in enumerate(payloads)
    ]


async def prefill(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    await ensure_topics(bootstrap, [TopicSpec(topic, 12)])
    producer = make_producer(bootstrap, "bench-prefill", linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, e.to_json(), key=str(e.subject).encode()) for e in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def fill_table(dsn_db: str, rows: int) -> int:
    """Add filler rows (other parties, 1,000 entries each) until the table holds ``rows``."""
    conn = await asyncpg.connect(dsn_db)
    try:
        have = await conn.fetchval("SELECT count(*) FROM timeline_entries")
        missing = max(0, rows - have)
        await conn.execute(
            """
            INSERT INTO timeline_entries (event_id, party_id, sequence, sort_at, type,
                                          occurred_at, body)
            SELECT gen_random_uuid(), md5('filler' || (g / 1000)::text)::uuid, g % 1000,
                   now() - make_interval(secs => g), 'nl.eenloket.message.routed', now(),
                   '{"subject": "Vraag", "text": "Filler"}'::jsonb
            FROM generate_series(1, $1) AS g
            """,
            missing,
        )
        await conn.execute("ANALYZE timeline_entries")
        return int(await conn.fetchval("SELECT count(*) FROM timeline_entries"))
    finally:
        await conn.close()


async def run(
    bootstrap: str,
    database_url: str,
    *,
    parties: int,
    logs: Path,
    table_rows: int,
    reads: int,
    processes: int = 1,
) -> CaseviewResult:
    """Projection with ``processes`` caseview processes in one consumer group; then, if
    ``reads``, the table filled to ``table_rows`` and the timeline page read over HTTP."""
    suffix = uuid.uuid4().hex[:6]
    topic = f"bench.timeline.{suffix}"
    start = datetime.now(UTC) - timedelta(days=30)
    heavy = uuid.uuid4()
    events = history(heavy, 998, start)  # 1,000 entries for one party
    for _ in range(parties):
        events += history(uuid.uuid4(), 8, start)
    await prefill(bootstrap, topic, events)
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-caseview-{suffix}",
        "EENLOKET_TOPIC_TIMELINE": topic,
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
        "EENLOKET_LOG_LEVEL": "WARNING",
    }
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    latencies: list[float] = []
    rows = 0
    # The first process migrates; the others start once it is ready (as for the router).
    with run_services({"caseview": env}, logs / "caseview-0") as services:
        began = time.perf_counter()
        extra = [
            run_services({"caseview": env}, logs / f"caseview-{n}") for n in range(1, processes)
        ]
        for ctx in extra:
            ctx.__enter__()
        try:
            while True:
                async with sessions() as s:
                    done = await s.scalar(
                        select(
                            func.coalesce(func.sum(orm.consumer_offsets.c.next_offset), 0)
                        ).where(orm.consumer_offsets.c.topic == topic)
                    )
                if (done or 0) >= len(events):
                    break
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - began
        finally:
            for ctx in extra:
                ctx.__exit__(None, None, None)
        if reads:
            rows, latencies = await _reads(
                services["caseview"].url, database_url, heavy, table_rows, reads
            )
    await engine.dispose()
    latencies.sort()
    return CaseviewResult(
        events=len(events),
        seconds=seconds,
        table_rows=rows,
        reads=reads,
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0,
    )


async def _reads(
    url: str, database_url: str, heavy: uuid.UUID, table_rows: int, reads: int
) -> tuple[int, list[float]]:
    """Fill the table to ``table_rows``, then read the heavy party's first page."""
    rows = await fill_table(
        database_url.replace("postgresql+asyncpg://", "postgresql://"), table_rows
    )
    token = mint_token("bench", teams=["burgerzaken"], roles=["member"])
    latencies = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for n in range(reads + 20):
            t = time.perf_counter()
            r = await http.get(f"/v1/parties/{heavy}/timeline", params={"limit": 50})
            elapsed = time.perf_counter() - t
            r.raise_for_status()
            if n >= 20:  # warm-up reads are not counted
                latencies.append(elapsed * 1000)
    return rows, latencies
