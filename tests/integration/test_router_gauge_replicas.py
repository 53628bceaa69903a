"""Two router replicas on one database expose the open/overdue case counts once between them
(issue #21: every replica published them, and the dashboards and NormBreaches summed them
per team — three replicas, triple counts). When the publishing replica stops, the other
takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from services.router import orm
from services.router.bootstrap import MIGRATIONS
from shared.db.engine import create_engine
from shared.db.migrations import upgrade
from shared.devstack import ROOT, Service, free_port, wait_ready
from tests.conftest import Topics, _create_database
from tests.support import eventually_sync

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

OPEN = {"burgerzaken": 3, "belastingen": 2}  # open cases per team; one of each overdue
CLOSED = 4


@pytest.fixture
async def router_db(pg_dsn: str) -> str:
    name = f"gauges_{uuid.uuid4().hex[:10]}"
    await _create_database(pg_dsn, name)
    url = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    now = datetime.now(UTC)
    party = uuid.uuid4()
    rows = []
    for team, count in OPEN.items():
        for n in range(count):
            due = now - timedelta(days=1) if n == 0 else now + timedelta(days=5)
            rows.append({"owner_team": team, "status": "open", "due_at": due})
    rows += [{"owner_team": "kcc", "status": "afgehandeld", "due_at": now}] * CLOSED
    async with engine.begin() as conn:
        await conn.execute(
            insert(orm.parties).values(id=party, provisional=False, version=0, created_at=now)
        )
        await conn.execute(
            insert(orm.cases),
            [
                {
                    "id": uuid.uuid4(),
                    "number": f"ZAAK-2026-{uuid.uuid4().int % 10**10:010d}",
                    "party_id": party,
                    "confidential": False,
                    "handover_count": 0,
                    "opened_at": now,
                    "last_activity_at": now,
                    **row,
                }
                for row in rows
            ],
        )
    await engine.dispose()
    return url


@pytest.fixture
def replicas(
    router_db: str, kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> Iterator[list[Service]]:
    started: list[Service] = []
    try:
        for n in range(2):
            port = free_port()
            log = tmp_path / f"router-{n}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "services.router", "serve"],
                cwd=ROOT,
                env={
                    **os.environ,
                    **topics.env(),
                    "EENLOKET_ENVIRONMENT": "test",
                    "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
                    "EENLOKET_DATABASE_URL": router_db,
                    "EENLOKET_CONSUMER_GROUP": f"gauges-{uuid.uuid4().hex[:8]}",
                    "EENLOKET_HTTP_PORT": str(port),
                    "EENLOKET_GAUGES_EVERY_SECONDS": "0.2",
                },
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            started.append(Service(f"router-{n}", f"http://127.0.0.1:{port}", process, log))
        for service in started:
            wait_ready(service)
        yield started
    finally:
        for service in started:
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in started:
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()


def scrape(service: Service) -> dict[tuple[str, str | None], float]:
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    return {
        (s.name, s.labels.get("team")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(
            ("eenloket_router_open", "eenloket_router_overdue", "eenloket_router_gauges")
        )
    }


def totals(services: list[Service]) -> dict[str, dict[str, float]]:
    summed: dict[str, dict[str, float]] = {"open": {}, "overdue": {}, "leaders": {}}
    for service in services:
        for (name, team), value in scrape(service).items():
            kind = {
                "eenloket_router_open_cases": "open",
                "eenloket_router_overdue_cases": "overdue",
                "eenloket_router_gauges_leader": "leaders",
            }[name]
            key = team or "replicas"
            summed[kind][key] = summed[kind].get(key, 0) + value
    return summed


EXPECTED = {
    "open": {team: float(n) for team, n in OPEN.items()},
    "overdue": {team: 1.0 for team in OPEN},
    "leaders": {"replicas": 1.0},
}


def test_two_replicas_expose_the_databases_counts_once(replicas: list[Service]) -> None:
    # Summed over the replicas, as the dashboards and NormBreaches do: the database's counts.
    eventually_sync(lambda: totals(replicas) == EXPECTED, timeout=30)
    leader = next(s for s in replicas if scrape(s)[("eenloket_router_gauges_leader", None)] == 1)
    follower = next(s for s in replicas if s is not leader)

    # The publishing replica stops: its lock goes with its connection; the other takes over.
    leader.process.send_signal(signal.SIGTERM)
    leader.process.wait(timeout=30)
    eventually_sync(lambda: totals([follower]) == EXPECTED, timeout=30)
