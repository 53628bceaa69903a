"""R2: two router and two caseview processes (one consumer group per service) while a random
one of them is killed with SIGKILL every few seconds and restarted.

Proves that a consumer dying at any point of a batch (before, during or after its database
transaction, before or after the Kafka commit, with its partitions then moved to the other
replica and back) loses nothing and applies nothing twice: every acknowledged message is in
caseview exactly once, every event has exactly one effect. Redeliveries are reported (history
JSON and stdout), not failed on."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.reliability.conftest import sized
from tests.reliability.harness import (
    LoadDriver,
    Stack,
    elapsed,
    exercise,
    failures,
    log,
    wait_acknowledged,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(1500)]

KILLS = sized(ci=3, full=10)
MESSAGES = sized(ci=1500, full=10_000)
PAUSE = sized(ci=3, full=4)  # seconds between a restarted consumer being ready and the next kill
DRAIN_SECONDS = 180.0
CONSUMERS = ["router-1", "router-2", "caseview-1", "caseview-2"]
SEED = random.randrange(1_000_000)


async def kill_consumers(stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]) -> None:
    rng = random.Random(SEED)
    await wait_acknowledged(driver, 0.05)
    for n in range(KILLS):
        victim = rng.choice(CONSUMERS)
        fault: dict[str, Any] = {"kind": "kill -9", "process": victim, "at": elapsed(driver)}
        fault["acknowledged_before"] = driver.acknowledged
        fault["pid"] = await stack.kill(victim)
        stack.start(victim)
        await stack.ready(victim)
        fault["restarted_pid"] = stack.procs[victim].pid
        fault["ready_after"] = round(elapsed(driver) - fault["at"], 2)
        faults.append(fault)
        log(f"R2: kill {n + 1}/{KILLS}: {fault}")
        await asyncio.sleep(PAUSE)  # fault pacing, not a correctness wait


async def test_r2_consumers_killed_lose_nothing_and_double_nothing(
    kafka_bootstrap: str, pg_dsn: str, tmp_path
) -> None:
    stack = Stack(kafka_bootstrap, pg_dsn, tmp_path)
    run = await exercise(
        "r2",
        stack,
        ["ingest-1", *CONSUMERS],
        messages=MESSAGES,
        inject=kill_consumers,
        drain_seconds=DRAIN_SECONDS,
        extra=lambda: {"seed": SEED},
    )
    report = run.report
    print(f"R2 redeliveries (seed {SEED}): {report['redeliveries']}")

    assert len(run.faults) == KILLS
    assert run.driver.refused == [] and run.driver.server_errors == []
    assert run.driver.unacknowledged == []
    assert report["acknowledged"] == MESSAGES
    assert failures(report) == {}
    assert all(report["processes_alive_at_end"].values())
