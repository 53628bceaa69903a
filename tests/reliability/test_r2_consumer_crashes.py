"""R2: two router and two caseview processes (one consumer group per service); a random one of
them is killed with SIGKILL inside a batch and restarted, again and again.

Each kill is scheduled by progress, not by time: the load goes in waves, and a kill waits until
its target's ``eenloket_consumer_batch_in_flight`` is 1, freezes it, confirms from PostgreSQL
that the target's batch transaction is open (``Stack.kill_mid_batch``) and only then kills it.
The test fails unless every kill landed mid-batch.

Proves that a consumer dying inside its batch transaction (its partitions then moved to the
other replica and back) loses nothing and applies nothing twice, and keeps every party's order:
every acknowledged message is in caseview exactly once, every event has exactly one timeline
row, order on the topic and in caseview is the sequence, and all four consumers run at the end.
Redeliveries are reported (history JSON and stdout), not failed on."""

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
# The load in waves, so that there is work in flight whenever a kill comes: 10 % first, then a
# wave per kill, topped up while the target has nothing to do (at most one wave a second); the
# rest after the last kill.
FIRST_WAVE = MESSAGES // 10
WAVE = MESSAGES // (4 * KILLS)
KILL_WAIT = 60.0  # seconds a kill waits for its target to have a batch in flight
CONSUMERS = ["router-1", "router-2", "caseview-1", "caseview-2"]
SEED = random.randrange(1_000_000)


async def kill_consumers(stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]) -> None:
    rng = random.Random(SEED)
    await wait_acknowledged(driver, 0.05)
    for n in range(KILLS):
        victim = rng.choice(CONSUMERS)
        driver.release(WAVE)
        fault: dict[str, Any] = {"kind": "kill -9", "process": victim}
        fault |= await stack.kill_mid_batch(
            victim, keep_busy=lambda: driver.top_up(WAVE), timeout=KILL_WAIT
        )
        fault["at"] = elapsed(driver)
        fault["acknowledged_before"] = driver.acknowledged
        stack.start(victim)
        await stack.ready(victim)
        fault["restarted_pid"] = stack.procs[victim].pid
        fault["ready_after"] = round(elapsed(driver) - fault["at"], 2)
        faults.append(fault)
        log(f"R2: kill {n + 1}/{KILLS}: {fault}")
        if n + 1 < KILLS:
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
        first_wave=FIRST_WAVE,
    )
    report = run.report
    mid_batch = sum(1 for f in run.faults if f["mid_batch"])
    missed = sum(f["missed"] for f in run.faults)
    print(f"R2 redeliveries (seed {SEED}): {report['redeliveries']}")
    print(
        f"R2 kills: {len(run.faults)}, inside a batch transaction {mid_batch}, freezes that "
        f"found the batch already ended {missed}"
    )

    assert len(run.faults) == KILLS
    assert mid_batch == KILLS, [(f["process"], f["mid_batch"], f["waited"]) for f in run.faults]
    assert run.driver.refused == [] and run.driver.server_errors == []
    assert run.driver.unacknowledged == []
    assert report["acknowledged"] == MESSAGES
    assert failures(report) == {}
    assert all(report["processes_alive_at_end"].values()), report["processes_alive_at_end"]
    assert run.cleanup["errors"] == []
