"""The liveness rule (issue #25): a supervised background loop that dies takes its process down,
so its partitions move to the other member of the group and nothing is lost.

Each case runs the services as processes (``python -m services.<name> serve``) with two
replicas of the victim's service in one consumer group, under load over every channel. One
replica's loop is made to fail after a few rounds (``EENLOKET_TEST_FAIL_LOOP``, read only with
``EENLOKET_ENVIRONMENT=test``: shared/faults.py): the router's consumer after its 3rd committed
batch, the router's outbox relay after its 3rd published batch, caseview's projector after its
3rd committed batch. Proves: the victim logs the death with the traceback's frames (no message
text) and exits with 70 within seconds; the group is left to the other replica, holding every
partition, well before a session timeout would have freed them; the other replica processes
everything (the ledger: every acknowledged message in caseview exactly once, one effect per
event, per-sender order, no dead letters); the replicas stopped with SIGTERM at the end end as
an orderly stop, never with 70."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.faults import FAIL_LOOP
from shared.service import EXIT_LOOP_DIED
from tests.reliability.conftest import sized
from tests.reliability.harness import (
    LoadDriver,
    Proc,
    Stack,
    elapsed,
    exercise,
    failures,
    log,
    until,
)
from tests.support import assignment

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(300)]

MESSAGES = sized(ci=400, full=2000)
ROUNDS = 3  # the victim's loop dies after this many rounds
EXIT_WITHIN = 10.0  # seconds from the death to the exit (the runner's grace)
MOVED_WITHIN = 9.0  # seconds from the exit to one member holding every partition (< session 10 s)
DRAIN_SECONDS = 90.0


@dataclass
class OneFaultStack(Stack):
    """A ``Stack`` whose named processes get environment variables of their own."""

    own_env: dict[str, dict[str, str]] = field(default_factory=dict)
    starting: str = ""

    def start(self, name: str) -> Proc:
        self.starting = name
        try:
            return super().start(name)
        finally:
            self.starting = ""

    def env(self, service: str) -> dict[str, str]:
        return super().env(service) | self.own_env.get(self.starting, {})


def death_lines(proc: Proc) -> list[dict[str, Any]]:
    """The victim's lines about its loop's death (CRITICAL, or naming the exit code)."""
    lines = proc.log.read_text(errors="replace").splitlines()
    return [
        orjson.loads(x)
        for x in lines
        if x.startswith("{") and ('"CRITICAL"' in x or f'"exit_code":{EXIT_LOOP_DIED}' in x)
    ]


CASES = {
    "router-consumer": ("router", ["ingest-1", "router-1", "router-2", "caseview-1"]),
    "outbox-relay": ("router", ["ingest-1", "router-1", "router-2", "caseview-1"]),
    "caseview-projector": ("caseview", ["ingest-1", "router-1", "caseview-1", "caseview-2"]),
}


@pytest.mark.parametrize("loop", list(CASES))
async def test_a_dead_loop_takes_its_process_down_and_its_partitions_move(
    loop: str, kafka_bootstrap: str, pg_dsn: str, tmp_path
) -> None:
    service, processes = CASES[loop]
    victim, survivor = f"{service}-1", f"{service}-2"
    stack = OneFaultStack(
        kafka_bootstrap, pg_dsn, tmp_path, own_env={victim: {FAIL_LOOP: f"{loop}:{ROUNDS}"}}
    )
    topics = (
        # The router consumes the inbound messages, staff commands and reply statuses.
        {stack.topics["inbound"], stack.topics["commands"], stack.topics["outbound_status"]}
        if service == "router"
        else {stack.topics["timeline"]}
    )
    everything = {TopicPartition(t, p) for t in topics for p in range(stack.partitions)}
    seen: dict[str, Any] = {}

    async def watch(stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]) -> None:
        proc = stack.procs[victim]

        def exit_time() -> float:  # in a thread: the moment of the exit, whatever the loop does
            try:
                proc.process.wait(90)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{victim} did not exit within 90 s") from None
            return time.time()

        exited = await asyncio.to_thread(exit_time)
        seen["exit_code"] = proc.process.returncode
        seen["acknowledged_at_exit"] = driver.acknowledged
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka)
        await admin.start()
        try:

            async def moved() -> bool:
                members = await assignment(admin, stack.group(service))
                return len(members) == 1 and members[0] == everything

            await until(moved, timeout=60, what=f"{survivor} holds every partition")
        finally:
            await admin.close()
        seen["moved_after_exit"] = round(time.time() - exited, 2)
        lines = death_lines(proc)
        died = [x for x in lines if x["msg"] == "background loop died"]
        seen["died"] = died
        seen["runner"] = [x for x in lines if x.get("exit_code") == EXIT_LOOP_DIED]
        if died:
            at = datetime.fromisoformat(died[0]["time"]).timestamp()
            seen["exit_after_death"] = round(exited - at, 2)  # as this test saw the exit
            if seen["runner"]:  # as the victim logged it: its shutdown done, about to exit
                last = datetime.fromisoformat(seen["runner"][-1]["time"]).timestamp()
                seen["stopped_after_death"] = round(last - at, 2)
        faults.append(
            {"kind": "loop death", "process": victim, "loop": loop, "pid": proc.pid}
            | {k: v for k, v in seen.items() if k not in ("died", "runner")}
            | {"at": elapsed(driver)}
        )
        log(f"loop death: {faults[-1]}")

    run = await exercise(
        f"loop-death-{loop}",
        stack,
        processes,
        messages=MESSAGES,
        inject=watch,
        drain_seconds=DRAIN_SECONDS,
    )

    # The victim: logged the death with its frames, never the message; exited 70, fast.
    assert seen["exit_code"] == EXIT_LOOP_DIED
    [died] = seen["died"]
    assert died["loop"] == loop and died["error_type"] == "InjectedLoopError"
    assert any(str(f).startswith("shared/faults.py:") for f in died["traceback"])
    assert "on purpose" not in stack.procs[victim].log.read_text(errors="replace")
    assert [x["loop"] for x in seen["runner"]] == [loop, loop]  # stops …, stopped: exits
    assert seen["exit_after_death"] < EXIT_WITHIN
    # It left the group: the other member took every partition at once.
    assert seen["moved_after_exit"] < MOVED_WITHIN
    # The load went on (the death was mid-load) and nothing was lost or doubled.
    assert seen["acknowledged_at_exit"] < MESSAGES
    report = run.report
    assert run.driver.unacknowledged == []
    assert report["acknowledged"] == MESSAGES
    assert failures(report) == {}
    # The others ran to the end and were stopped with SIGTERM: an orderly stop, not a death.
    for name, proc in stack.procs.items():
        if name != victim:
            assert report["processes_alive_at_end"][name], name
            assert proc.process.returncode in (0, -signal.SIGTERM), (name, proc.process.returncode)
