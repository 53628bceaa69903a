"""R1: unique messages through ingest over every channel from ~200 senders, no faults.

Proves the happy path keeps the ledger: every 202/250-acknowledged message is in
caseview exactly once within 60 s of the last send, every router event has exactly one
timeline row in caseview, every party's events are in sequence order with their causes
first on the topic and in caseview, each sender's messages are in one party in send
order, nothing is dead-lettered, and every service still runs (/readyz) at the end."""

from __future__ import annotations

import pytest

from tests.reliability.conftest import sized
from tests.reliability.harness import Stack, exercise, failures

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(1200)]

MESSAGES = sized(ci=2000, full=10_000)
DRAIN_SECONDS = 60.0  # from the last acknowledgement


async def test_r1_every_acknowledged_message_is_in_caseview_exactly_once(
    kafka_bootstrap: str, pg_dsn: str, tmp_path
) -> None:
    stack = Stack(kafka_bootstrap, pg_dsn, tmp_path)
    run = await exercise(
        "r1",
        stack,
        ["ingest-1", "router-1", "caseview-1"],
        messages=MESSAGES,
        drain_seconds=DRAIN_SECONDS,
    )
    driver, report = run.driver, run.report

    assert driver.refused == [], driver.refused[:5]
    assert driver.server_errors == [], driver.server_errors[:5]
    assert driver.unacknowledged == []
    assert report["acknowledged"] == report["distinct_acknowledged"] == MESSAGES
    assert run.timings["drain_after_last_send"] <= DRAIN_SECONDS, "caseview incomplete after 60 s"
    assert failures(report) == {}
    assert all(report["processes_alive_at_end"].values()), report["processes_alive_at_end"]
    assert run.cleanup["errors"] == []
