"""`make demo` stops what it started and never plays against leftovers (issue #21).

The demo runs as `make demo` runs it (deploy/local/demo.py, its own Kafka broker, the
services on SQLite), in a directory and on ports of its own. SIGTERM stops everything; a
second demo stops the first; a demo killed with SIGKILL leaves services and a broker that the
next demo stops by the pids it recorded; a port held by another program is a one-line
refusal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.demolock import port_taken
from shared.devstack import ROOT, SERVICES, free_port, free_port_run
from tests.support import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

SCENARIO = "vestigingen"  # the shortest scenario file
READY = "DEV-ONLY token"  # printed once the scenarios have played and the demo waits


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone for this test's purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Demo:
    def __init__(self, directory: Path, port_base: int, smtp_port: int, name: str) -> None:
        self.dir = directory
        self.ports = [*range(port_base, port_base + len(SERVICES)), smtp_port]
        self.out = directory.parent / f"{name}.out"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "deploy/local/demo.py",
                "--scenario",
                SCENARIO,
                "--brief",
                "--dir",
                str(directory),
                "--port-base",
                str(port_base),
                "--smtp-port",
                str(smtp_port),
                "--no-keycloak",  # its lifecycle is keycloak.sh's, like Kafka's: not this test's
            ],
            cwd=ROOT,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, f"demo exited early:\n{self.output()}"
            return READY in self.output()

        eventually_sync(ready, timeout=300)

    def started(self) -> list[int]:
        """The pids this demo started: its services and its Kafka broker."""
        services = [int(p) for p in (self.dir / "services.pids").read_text().split()]
        return [*services, int((self.dir / "kafka" / "kafka.pid").read_text().split()[0])]

    def wait_exit(self) -> int:
        return self.process.wait(timeout=120)


def _all_gone(pids: list[int], ports: list[int]) -> None:
    eventually_sync(
        lambda: not any(_alive(p) for p in pids) and not any(port_taken(p) for p in ports),
        timeout=60,
    )


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    return tmp_path / "demo"


def test_sigterm_stops_everything_and_a_second_demo_stops_the_first(demo_dir: Path) -> None:
    base, smtp = free_port_run(len(SERVICES)), free_port()
    first = Demo(demo_dir, base, smtp, "first")
    try:
        first.wait_ready()
        first_pids = first.started()
        # A second demo on the same directory stops the first (its own cleanup runs) and
        # plays on a fresh stack, not against the first one's processes.
        second = Demo(demo_dir, base, smtp, "second")
        try:
            assert first.wait_exit() == 130, first.output()
            _all_gone(first_pids, [])
            second.wait_ready()
            assert "Stopped an earlier demo" in second.output()
            second_pids = second.started()
            assert not set(second_pids) & set(first_pids)
            second.process.send_signal(signal.SIGTERM)
            assert second.wait_exit() == 130, second.output()
            _all_gone(second_pids, second.ports)
            assert not (demo_dir / "demo.pid").exists()
        finally:
            second.process.kill()
    finally:
        first.process.kill()


def test_a_demo_killed_outright_is_cleaned_up_by_the_next(demo_dir: Path) -> None:
    base, smtp = free_port_run(len(SERVICES)), free_port()
    killed = Demo(demo_dir, base, smtp, "killed")
    try:
        killed.wait_ready()
        leftovers = killed.started()
        killed.process.kill()  # SIGKILL: no cleanup runs, services and Kafka stay behind
        killed.process.wait()
        assert all(_alive(p) for p in leftovers)
        following = Demo(demo_dir, base, smtp, "following")
        try:
            following.wait_ready()
            _all_gone(leftovers, [])
            assert "a service of an earlier demo" in following.output()
            assert "the Kafka broker of an earlier demo" in following.output()
            pids = following.started()
            following.process.send_signal(signal.SIGTERM)
            assert following.wait_exit() == 130
            _all_gone(pids, following.ports)
        finally:
            following.process.kill()
    finally:
        for pid in killed.started() if (demo_dir / "services.pids").exists() else []:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_port_held_by_another_program_is_a_one_line_refusal(demo_dir: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        demo = Demo(demo_dir, free_port(), taken, "refused")
        assert demo.wait_exit() == 2
    refusal = [line for line in demo.output().splitlines() if "does not start" in line]
    assert len(refusal) == 1 and f"port {taken} is in use" in refusal[0], demo.output()
