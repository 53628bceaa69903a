"""Facade stage: the Klantinteracties facade's ``GET /klantcontacten`` for one resident
(``hadBetrokkene__wasPartij__uuid``), beside caseview's own ``GET /v1/parties/{id}/timeline``
for the same resident in the same run: requests per second and p99 at 16 concurrent clients.

One caseview process on PostgreSQL, its read models projected from a pre-filled timeline
topic (the resident with 300 contacts among other parties). Both routes answer the first
page of 100 contacts, newest first, and write one access-log entry per read, as in
production; the facade with an integration's ``Authorization: Token``, the timeline with a
staff member's bearer token. Load: ``wrk`` (compiled, so the generator takes little of the
services' CPU), 16 connections, closed loop, after a short warm-up of each route.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.caseview_stage import history, prefill
from services.caseview import orm
from services.caseview.auth import mint_token
from services.caseview.klantinteracties.auth import token_hash
from shared.db.engine import create_engine, session_factory
from shared.devstack import run_services

CLIENTS = 16
PAGE = 100
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Route:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    timeouts: int


@dataclass
class FacadeResult:
    contacts: int
    clients: int
    seconds: float
    facade: Route
    timeline: Route


def load(url: str, header: str, seconds: float) -> Route:
    """``wrk`` at ``CLIENTS`` connections: requests/s and the latency distribution."""
    out = subprocess.run(  # noqa: S603
        [  # noqa: S607 - wrk from PATH, as the ingest stage runs it
            "wrk",
            "-t2",
            f"-c{CLIENTS}",
            f"-d{seconds:.0f}s",
            "--timeout=30s",  # wrk's 2 s would drop the slow reads from the percentiles
            "--latency",
            "-H",
            header,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def latency(percent: int) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return round(float(found.group(1)) * UNITS_MS[found.group(2)], 2) if found else 0.0

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    late = re.search(r"timeout (\d+)", out)
    return Route(
        requests_per_second=round(float(rate.group(1)), 1) if rate else 0.0,
        p50_ms=latency(50),
        p99_ms=latency(99),
        non_2xx=int(bad.group(1)) if bad else 0,
        timeouts=int(late.group(1)) if late else 0,
    )


async def run(
    bootstrap: str, database_url: str, *, seconds: float, logs: Path, others: int = 200
) -> FacadeResult:
    suffix = uuid.uuid4().hex[:6]
    topic = f"bench.facade.{suffix}"
    start = datetime.now(UTC) - timedelta(days=30)
    resident, contacts = uuid.uuid4(), 300
    events = history(resident, contacts, start)
    for _ in range(others):
        events += history(uuid.uuid4(), 8, start)
    await prefill(bootstrap, topic, events)
    secret = uuid.uuid4().hex
    integration = (
        f'[{{"name": "bench", "token_sha256": "{token_hash(secret)}", "teams": ["burgerzaken"],'
        ' "roles": ["integration"], "purpose": "bench"}]'
    )
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-facade-{suffix}",
        "EENLOKET_TOPIC_TIMELINE": topic,
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
        "EENLOKET_KLANTINTERACTIES_INTEGRATIONS": integration,
        "EENLOKET_LOG_LEVEL": "WARNING",
    }
    staff = mint_token("bench", teams=["burgerzaken"], roles=["member"])
    with run_services({"caseview": env}, logs / "facade") as services:
        base = services["caseview"].url
        await _projected(database_url, topic, len(events))
        facade = (
            f"{base}/klantinteracties/api/v1/klantcontacten"
            f"?hadBetrokkene__wasPartij__uuid={resident}&pageSize={PAGE}"
        )
        timeline = f"{base}/v1/parties/{resident}/timeline?limit={PAGE}"
        token, bearer = f"Authorization: Token {secret}", f"Authorization: Bearer {staff}"
        load(facade, token, 2)  # warm-up: connections, plans, caches
        load(timeline, bearer, 2)
        f = await asyncio.to_thread(load, facade, token, seconds)
        t = await asyncio.to_thread(load, timeline, bearer, seconds)
    return FacadeResult(contacts, CLIENTS, seconds, f, t)


async def _projected(database_url: str, topic: str, count: int, patience: float = 300) -> None:
    """Until caseview's consumer has stored offsets past every pre-filled record."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    o = orm.consumer_offsets
    deadline = time.monotonic() + patience
    try:
        while time.monotonic() < deadline:
            async with sessions() as s:
                done = await s.scalar(
                    select(func.coalesce(func.sum(o.c.next_offset), 0)).where(o.c.topic == topic)
                )
            if (done or 0) >= count:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"caseview did not project {count} events within {patience:.0f}s")
    finally:
        await engine.dispose()
