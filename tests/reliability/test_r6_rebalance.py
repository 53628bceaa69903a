"""R6: the router is scaled 1 → 3 → 1 during a run, and one replica is paused (SIGSTOP) past
the session timeout and then resumed while the others own its partitions.

Proves that rebalances (members joining, leaving, and a zombie member coming back with a batch
in flight) lose nothing and double nothing, and keep per-party order. Order is defined as in
``harness``: each sender sends its messages one after another (the next only after the
previous was acknowledged); in caseview those messages belong to one party and their
``sequence`` numbers increase in send order; and every party's sequence numbers in caseview are
exactly 1..n."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest

from shared.kafka.config import consumer_config
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

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.full_only,
    pytest.mark.timeout(1800),
]

MESSAGES = sized(ci=2000, full=6000)
DRAIN_SECONDS = 180.0
SESSION_TIMEOUT = consumer_config("x", "x", "x")["session_timeout_ms"] / 1000
PAUSED_FOR = SESSION_TIMEOUT + 5


async def scale_routers(stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]) -> None:
    def note(kind: str, **detail: Any) -> None:
        fault = {"kind": kind, "at": elapsed(driver), "acknowledged_before": driver.acknowledged}
        faults.append(fault | detail)
        log(f"R6: {faults[-1]}")

    await wait_acknowledged(driver, 0.15)
    note("scale 1→3")
    await stack.up("router-2", "router-3")
    await wait_acknowledged(driver, 0.40)
    note("SIGSTOP router-2", pid=stack.procs["router-2"].pid, seconds=PAUSED_FOR)
    stack.signal("router-2", signal.SIGSTOP)
    paused = time.monotonic()
    try:
        await asyncio.sleep(PAUSED_FOR)  # fault pacing: past the session timeout
    finally:
        stack.signal("router-2", signal.SIGCONT)
    note("SIGCONT router-2", paused_seconds=round(time.monotonic() - paused, 1))
    await stack.ready("router-2")
    await wait_acknowledged(driver, 0.70)
    note("scale 3→1")
    await asyncio.gather(stack.stop("router-2"), stack.stop("router-3"))


async def test_r6_rebalances_keep_everything_once_and_in_order(
    kafka_bootstrap: str, pg_dsn: str, tmp_path
) -> None:
    stack = Stack(kafka_bootstrap, pg_dsn, tmp_path)
    run = await exercise(
        "r6",
        stack,
        ["ingest-1", "router-1", "caseview-1"],
        messages=MESSAGES,
        inject=scale_routers,
        drain_seconds=DRAIN_SECONDS,
    )
    report = run.report

    assert [f["kind"] for f in run.faults] == [
        "scale 1→3",
        "SIGSTOP router-2",
        "SIGCONT router-2",
        "scale 3→1",
    ]
    assert run.driver.refused == [] and run.driver.server_errors == []
    assert run.driver.unacknowledged == []
    assert report["acknowledged"] == MESSAGES
    assert failures(report) == {}  # includes order_violations and sequence_gaps
    assert report["processes_alive_at_end"]["router-1"]
