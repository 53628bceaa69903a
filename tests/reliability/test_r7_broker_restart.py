"""R7: the Kafka broker stops at ~30% of a run and starts again (same data, same port).

The test runs on a broker of its own (``deploy/local/kafka.sh start --dir <tmp>``), so the
session's broker that other tests use is never touched.

Proves: while Kafka is away ingest refuses honestly (HTTP 503 as problem details with
Retry-After, SMTP 451), never 500 and never a 202/250 it cannot keep; the senders' re-sends
(same idempotency id) are accepted once Kafka is back; router and caseview resume by
themselves; and not one acknowledged message is lost or applied twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

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
    own_kafka,
    until,
    wait_acknowledged,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(1200)]

MESSAGES = sized(ci=1000, full=5000)
# Longer than the producers' request_timeout_ms (15 s, shared/kafka/config.py): batches queued
# for a partition without a leader then expire inside aiokafka, the dangerous case (see
# docs/reliability.md, "A broker restart can wedge ingest and the outbox relay").
MIN_DOWN_SECONDS = sized(ci=20, full=25)
DRAIN_SECONDS = 180.0
PROBLEM_JSON = "application/problem+json"


async def start_again(run_dir: Path, port: str) -> str:
    """Start the broker on its old port. While it was down, the clients' reconnect attempts
    to that (ephemeral-range) port can briefly hold it (a TCP self-connect), so a start that
    finds the port taken is tried again, for at most a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await asyncio.to_thread(
                local_script, "kafka.sh", "start", "--dir", str(run_dir), "--port", port
            )
        except RuntimeError as exc:
            if "already in use" not in str(exc) or time.monotonic() > deadline:
                raise
            log(f"R7: port {port} still taken; starting the broker again")
            await asyncio.sleep(1)


async def test_r7_broker_restart_loses_no_acknowledged_message(pg_dsn: str, tmp_path) -> None:
    run_dir = tmp_path / "kafka"
    with own_kafka(run_dir) as bootstrap:
        port = bootstrap.rsplit(":", 1)[1]

        async def restart_broker(
            stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]
        ) -> None:
            await wait_acknowledged(driver, 0.30)
            fault: dict[str, Any] = {"kind": "kafka stop", "at": elapsed(driver)}
            fault["acknowledged_before"] = driver.acknowledged
            await asyncio.to_thread(local_script, "kafka.sh", "stop", "--dir", str(run_dir))
            down = time.monotonic()
            before = driver.statuses.copy()
            # Keep it down until the senders have met the refusals on both protocols.
            try:
                await until(
                    lambda: (
                        time.monotonic() - down >= MIN_DOWN_SECONDS
                        and driver.statuses["http 503"] > before["http 503"]
                        and driver.statuses["smtp 451"] > before["smtp 451"]
                    ),
                    timeout=90,
                    what="503 and 451 seen while Kafka is down",
                )
            finally:
                out = await start_again(run_dir, port)
            assert last_value(out, "KAFKA_BOOTSTRAP") == bootstrap
            fault["down_seconds"] = round(time.monotonic() - down, 1)
            fault["refusals_while_down"] = {
                k: driver.statuses[k] - before[k] for k in ("http 503", "smtp 451")
            }
            faults.append(fault)
            log(f"R7: {fault}")

        stack = Stack(bootstrap, pg_dsn, tmp_path)
        run = await exercise(
            "r7",
            stack,
            ["ingest-1", "router-1", "caseview-1"],
            messages=MESSAGES,
            inject=restart_broker,
            drain_seconds=DRAIN_SECONDS,
        )
    driver, report = run.driver, run.report

    assert len(run.faults) == 1
    # While Kafka was away: honest refusals, never a 500.
    assert driver.statuses["http 503"] > 0 and driver.statuses["smtp 451"] > 0
    assert set(driver.problem_types) == {PROBLEM_JSON}, driver.problem_types
    assert driver.server_errors == [], driver.server_errors[:5]
    assert not any(k.startswith("smtp 5") for k in driver.statuses), driver.statuses
    assert driver.refused == []
    # Afterwards: every message acknowledged (after re-sends), none lost, none doubled.
    assert driver.unacknowledged == []
    assert report["acknowledged"] == report["distinct_acknowledged"] == MESSAGES
    assert failures(report) == {}
    assert all(report["processes_alive_at_end"].values())
