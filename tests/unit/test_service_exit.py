"""The process runner (shared/service.py ``run_server``): a dead background loop ends the process
with ``EXIT_LOOP_DIED`` after an orderly shutdown, or after the grace period when the shutdown
hangs; a SIGTERM still ends it as before. Real processes (tests/unit/loop_death_app.py), no
infrastructure; the services themselves are tests/reliability/test_loop_death.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from shared.devstack import ROOT, free_port
from shared.service import EXIT_LOOP_DIED


class App:
    def __init__(self, mode: str, tmp: Path) -> None:
        self.port = free_port()
        self.out = tmp / "stdout"
        self.err = tmp / "stderr"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.unit.loop_death_app", mode, str(self.port)],
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, self.err.read_text()
            try:
                if httpx.get(self.url("/readyz"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "not ready in 20 s"
            time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def exited_within(self, seconds: float) -> int:
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {seconds} s") from None

    def log_lines(self) -> list[dict[str, object]]:
        lines = self.err.read_text().splitlines()
        return [orjson.loads(x) for x in lines if x.startswith("{")]


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        if app.process.poll() is None:
            app.process.kill()
            app.process.wait()


def test_a_dead_loop_stops_the_service_and_exits_70(apps: list[App], tmp_path: Path) -> None:
    app = App("orderly", tmp_path)
    apps.append(app)
    httpx.post(app.url("/die"), timeout=5)
    started = time.monotonic()

    assert app.exited_within(10) == EXIT_LOOP_DIED
    assert time.monotonic() - started < 5
    assert "lifespan stopped" in app.out.read_text()  # the orderly shutdown ran (consumer.stop)
    lines = app.log_lines()
    [died] = [x for x in lines if x["msg"] == "background loop died"]
    assert died["loop"] == "doomed" and died["error_type"] == "AssertionError"
    assert any("in doomed" in str(frame) for frame in died["traceback"])  # type: ignore[attr-defined]
    assert "Partition is not assigned" not in app.err.read_text()  # never the message
    stops, stopped = [x for x in lines if x.get("exit_code") == EXIT_LOOP_DIED]
    assert stops["level"] == "CRITICAL" and stops["loop"] == "doomed"
    assert stopped["msg"] == "stopped after a dead loop: exiting for a restart"


def test_a_hanging_shutdown_after_a_dead_loop_still_exits_70(
    apps: list[App], tmp_path: Path
) -> None:
    app = App("stuck", tmp_path)
    apps.append(app)
    httpx.post(app.url("/die"), timeout=5)
    started = time.monotonic()

    assert app.exited_within(10) == EXIT_LOOP_DIED
    assert 1.5 < time.monotonic() - started < 6  # the grace (2 s), not forever
    assert "lifespan stopped" not in app.out.read_text()
    assert any("took too long" in str(x["msg"]) for x in app.log_lines())


@pytest.mark.parametrize(
    ("sig", "status"),
    # uvicorn shuts down, then re-raises the signal: terminated by SIGTERM (143 in a shell),
    # as before; Ctrl-C ends with 0, as uvicorn.run did.
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 0)],
)
def test_a_signal_is_an_orderly_stop_not_a_loop_death(
    sig: signal.Signals, status: int, apps: list[App], tmp_path: Path
) -> None:
    app = App("orderly", tmp_path)
    apps.append(app)
    app.process.send_signal(sig)

    assert app.exited_within(10) == status
    assert "lifespan stopped" in app.out.read_text()
    assert not [x for x in app.log_lines() if x["level"] == "CRITICAL"]
