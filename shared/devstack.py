"""Development tooling: run the services as local processes (the demo and e2e tests).

Not used by the services themselves. Each service runs as its own process with
its own environment, exactly as in production: ``python -m services.<name> serve``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "router", "caseview", "outbound", "notifications")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free ports (a demo's services take base, base+1,
    ...). Chosen below the usual ephemeral range (32768 and up): a port next to a free
    ephemeral one is often an outgoing connection's a moment later."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000 - count)  # noqa: S311 - not a secret
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(service: Service, timeout: float = 90.0) -> None:
    """Poll ``/readyz`` until it answers 200; fail with the service's log tail."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        try:
            response = httpx.get(f"{service.url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} not ready in {timeout}s ({last}):\n{service.tail()}")


@contextlib.contextmanager
def run_services(
    env: Mapping[str, Mapping[str, str]],
    log_dir: Path,
    ports: Mapping[str, int] | None = None,
    on_start: Callable[[list[int]], None] | None = None,
) -> Iterator[dict[str, Service]]:
    """Start each named service with its own environment; stop them (by pid) at the end.
    A second replica of a service is named ``<service>#<n>`` (e.g. ``caseview#2``).
    ``on_start`` is told the pids as soon as the processes exist (the demo records them, so a
    demo killed before its cleanup ran can be cleaned up by the next one)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    services: dict[str, Service] = {}
    try:
        for name, extra in env.items():
            port = (ports or {}).get(name) or free_port()
            log = log_dir / f"{name.replace('#', '-')}.log"
            module = name.partition("#")[0]
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", f"services.{module}", "serve", "--migrate"],
                cwd=ROOT,
                env={**os.environ, **extra, "EENLOKET_HTTP_PORT": str(port)},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            services[name] = Service(name, f"http://127.0.0.1:{port}", process, log)
            if on_start is not None:
                on_start([s.process.pid for s in services.values()])
        for service in services.values():
            wait_ready(service)
        yield services
    finally:
        for service in services.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in services.values():
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
