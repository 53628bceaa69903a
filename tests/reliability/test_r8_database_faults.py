"""R8: database faults under load, on a PostgreSQL cluster of this test alone.

First the consumers' connections are terminated (``pg_terminate_backend`` of every backend on
the router's and caseview's databases, three times), then PostgreSQL itself is stopped and
started again (same data, same port). Nobody restarts a service.

Proves the services recover without an operator (the batch in flight rolls back and is
retried, the pool reconnects, the relay resumes) and that nothing is lost or doubled: every
acknowledged message is in caseview exactly once, every event has exactly one effect."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from tests.reliability.conftest import sized
from tests.reliability.harness import (
    LoadDriver,
    Stack,
    elapsed,
    exercise,
    failures,
    last_value,
    local_script,
    log,
    own_postgres,
    wait_acknowledged,
)

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.full_only,
    pytest.mark.timeout(1800),
]

MESSAGES = sized(ci=2000, full=6000)
TERMINATIONS = 3
DOWN_SECONDS = 8.0
DRAIN_SECONDS = 180.0


async def terminate_consumer_connections(stack: Stack) -> int:
    conn = await asyncpg.connect(f"{stack.pg_dsn}/postgres")
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
            [stack.database("router"), stack.database("caseview")],
        )
    finally:
        await conn.close()
    return sum(1 for r in rows if r["done"])


async def test_r8_database_faults_recover_without_an_operator(
    kafka_bootstrap: str, tmp_path
) -> None:
    run_dir = tmp_path / "pg"
    run_dir.mkdir()
    with own_postgres(run_dir) as dsn:
        port = dsn.rsplit(":", 1)[1]

        async def database_faults(
            stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]
        ) -> None:
            await wait_acknowledged(driver, 0.25)
            for _ in range(TERMINATIONS):
                fault = {"kind": "pg_terminate_backend", "at": elapsed(driver)}
                fault["acknowledged_before"] = driver.acknowledged
                fault["terminated"] = await terminate_consumer_connections(stack)
                faults.append(fault)
                log(f"R8: {fault}")
                await asyncio.sleep(3)  # fault pacing
            await wait_acknowledged(driver, 0.55)
            fault = {"kind": "postgres restart", "at": elapsed(driver)}
            fault["acknowledged_before"] = driver.acknowledged
            await asyncio.to_thread(local_script, "postgres.sh", "stop", "--dir", str(run_dir))
            down = time.monotonic()
            try:
                await asyncio.sleep(DOWN_SECONDS)  # fault pacing: an outage, not a blip
            finally:
                out = await asyncio.to_thread(
                    local_script, "postgres.sh", "start", "--dir", str(run_dir), "--port", port
                )
            assert last_value(out, "PG_DSN") == dsn
            fault["down_seconds"] = round(time.monotonic() - down, 1)
            faults.append(fault)
            log(f"R8: {fault}")

        stack = Stack(kafka_bootstrap, dsn, tmp_path)
        run = await exercise(
            "r8",
            stack,
            ["ingest-1", "router-1", "caseview-1"],
            messages=MESSAGES,
            inject=database_faults,
            drain_seconds=DRAIN_SECONDS,
        )
    report = run.report

    assert [f["kind"] for f in run.faults] == ["pg_terminate_backend"] * TERMINATIONS + [
        "postgres restart"
    ]
    assert all(f.get("terminated", 1) > 0 for f in run.faults)
    assert run.driver.refused == [] and run.driver.server_errors == []
    assert run.driver.unacknowledged == []
    assert report["acknowledged"] == report["distinct_acknowledged"] == MESSAGES
    assert failures(report) == {}
    assert all(report["processes_alive_at_end"].values())
