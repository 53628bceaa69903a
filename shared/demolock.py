"""One demo at a time, and nothing left behind (`make demo`, deploy/local/demo.py).

An earlier demo that is still running is asked to stop (SIGTERM, its own cleanup runs);
services an earlier demo left behind (it was killed with SIGKILL) are stopped by the pids it
recorded, its Kafka by ``kafka.sh stop``; a port that is still taken by anything else is a
one-line refusal, never a demo that plays against leftovers. SIGTERM and SIGHUP stop a demo
the way Ctrl-C does, so its ``finally`` blocks stop what it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

from shared.devstack import ROOT

STOP_TIMEOUT = 60.0


class DemoRefused(SystemExit):
    """Why this demo cannot start: one line for the person who typed ``make demo``."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


def _stop(pid: int, what: str) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        raise DemoRefused(
            f"{what} (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s; stop it first"
        )


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class DemoLock:
    """The demo's directory: ``demo.pid`` (the running demo), ``services.pids`` (its
    services), ``kafka/`` (its broker)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.pid_file = directory / "demo.pid"
        self.services_file = directory / "services.pids"

    def claim(self, ports: Iterable[int]) -> list[str]:
        """Stop what an earlier demo left running, make sure the ports are free, and record
        this demo. Returns what was stopped (for the console)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stopped = []
        for pid in _pids(self.pid_file):
            if pid != os.getpid() and _alive(pid) and "demo.py" in _cmdline(pid):
                _stop(pid, "an earlier demo")
                stopped.append(f"an earlier demo (pid {pid})")
        for pid in _pids(self.services_file):
            if _alive(pid) and "services." in _cmdline(pid):
                _stop(pid, "a service of an earlier demo")
                stopped.append(f"a service of an earlier demo (pid {pid})")
        for script, what in (("kafka", "Kafka broker"), ("keycloak", "Keycloak")):
            left = subprocess.run(  # noqa: S603
                ["bash", f"deploy/local/{script}.sh", "stop", "--dir", str(self.dir / script)],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if "stopping" in left.stderr:
                stopped.append(f"the {what} of an earlier demo")
        for port in ports:
            if port_taken(port):
                raise DemoRefused(
                    f"port {port} is in use by another program; stop it or start the demo "
                    "with other ports (--port-base, --smtp-port)"
                )
        self.pid_file.write_text(str(os.getpid()))
        self.services_file.unlink(missing_ok=True)
        return stopped

    def record_services(self, pids: Iterable[int]) -> None:
        self.services_file.write_text(" ".join(str(p) for p in pids))

    def release(self) -> None:
        if _pids(self.pid_file) == [os.getpid()]:
            self.pid_file.unlink(missing_ok=True)
        self.services_file.unlink(missing_ok=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the demo as Ctrl-C does: every ``finally`` runs."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
