"""A supervised background loop that dies is noticed: readiness fails at once, the traceback is
logged (type and frames, never the message), and whoever runs the process is told.

The process side (the runner stops uvicorn and exits 70) is test_service_exit.py; the services
as processes with a loop failing on purpose are tests/reliability/test_loop_death.py."""

from __future__ import annotations

import asyncio
import logging
import uuid

import orjson
import pytest

from shared.logging import JsonFormatter
from shared.tasks import Loops, on_loop_death
from tests.support import eventually

SECRET = "jan.jansen@example.nl 123456782 Mijn uitkering"  # what an exception message may quote


def _broken_lookup() -> None:
    raise KeyError(SECRET)


async def _dies_when(go: asyncio.Event) -> None:
    await go.wait()
    try:
        _broken_lookup()
    except KeyError:
        raise AssertionError(SECRET) from None  # a second exception, as in a handler


async def _forever() -> None:
    await asyncio.Event().wait()


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter("test")
    return [orjson.loads(formatter.format(r)) for r in caplog.records if r.name == "shared.tasks"]


async def test_a_dying_loop_fails_readiness_logs_its_frames_and_tells_the_runner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.tasks")
    died: list[str] = []
    name = f"loop-{uuid.uuid4().hex[:6]}"
    go = asyncio.Event()
    loops = Loops(on_death=died.append)
    loops.start(name, _dies_when(go))
    loops.start("healthy", _forever())
    await loops.check()  # both run

    go.set()
    await eventually(lambda: asyncio.sleep(0, died), timeout=5)
    assert died == [name]
    with pytest.raises(RuntimeError, match=name):
        await loops.check()

    [line] = [x for x in _lines(caplog) if x.get("loop") == name]
    assert line["level"] == "CRITICAL"
    assert line["error_type"] == "AssertionError"
    frames = line["traceback"]
    assert isinstance(frames, list)
    text = "\n".join(str(f) for f in frames)
    assert "_dies_when" in text  # where it happened, as file:line in function
    assert "tests/unit/test_loops.py:" in text
    raw = orjson.dumps(line).decode()
    for secret in ("jan.jansen", "123456782", "uitkering"):
        assert secret not in raw

    await loops.stop()
    assert died == [name]  # stopping the others is no second death


async def test_stopping_the_loops_is_not_a_death(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shared.tasks")
    died: list[str] = []
    loops = Loops(on_death=died.append)
    loops.start("a", _forever())
    loops.start("b", _forever())
    await asyncio.sleep(0)
    await loops.stop()
    await asyncio.sleep(0)
    assert died == []
    assert [x for x in _lines(caplog) if x["level"] in ("ERROR", "CRITICAL")] == []


async def test_a_loop_that_returns_or_is_cancelled_by_someone_else_is_dead_too() -> None:
    died: list[str] = []
    loops = Loops(on_death=died.append)

    async def returns() -> None:
        return None

    loops.start("returns", returns())
    loops.start("cancelled", _forever())
    await asyncio.sleep(0)
    loops._tasks["cancelled"].cancel()  # not by stop(): the loop is gone all the same
    await eventually(lambda: asyncio.sleep(0, len(died) == 2), timeout=5)
    assert sorted(died) == ["cancelled", "returns"]
    await loops.stop()


async def test_without_a_runner_a_dead_loop_only_fails_readiness() -> None:
    """Apps built in the test process (tests/apps.py ``serve``) have no runner on their state:
    a loop dying there must not end the test process."""

    class State:
        pass

    assert on_loop_death(State()) is None
    go = asyncio.Event()
    loops = Loops(on_death=on_loop_death(State()))
    loops.start("lonely", _dies_when(go))
    go.set()
    await eventually(lambda: asyncio.sleep(0, loops._tasks["lonely"].done()), timeout=5)
    with pytest.raises(RuntimeError, match="lonely"):
        await loops.check()
    await loops.stop()
