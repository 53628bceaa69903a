"""Background loops of a service (consumers, relays), watched by its readiness check.

The liveness rule (docs/reliability.md): a loop that dies takes its service down. Its
readiness fails at once, the death is logged with the traceback's type and frames, and the
process runner (``shared/service.py``) is told, which stops the server (the lifespan then
stops the Kafka consumer, so its partitions move to the other members of the group) and
exits with ``EXIT_LOOP_DIED`` for the orchestrator to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

LoopDied = Callable[[str], None]
"""Told the name of a loop that died (raised, returned, or was cancelled other than by stop)."""

RUNNER_HOOK = "on_loop_death"
"""The ``app.state`` attribute where the process runner puts its ``LoopDied``."""


def on_loop_death(state: Any) -> LoopDied | None:
    """What the process runner wants to be told when a loop dies, from ``app.state``; None when
    the app is run some other way (tests build apps in their own process: there a dead loop
    fails readiness and the test, never the test process)."""
    hook: LoopDied | None = getattr(state, RUNNER_HOOK, None)
    return hook


class Loops:
    def __init__(self, on_death: LoopDied | None = None) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._on_death = on_death
        self._stopping = False

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._ended)
        self._tasks[name] = task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        name = task.get_name()
        exc = None if task.cancelled() else task.exception()
        if self._stopping:
            if exc is not None:
                log.warning(
                    "background loop failed while stopping",
                    exc_info=(type(exc), exc, exc.__traceback__),
                    extra={"loop": name},
                )
            return
        if exc is not None:
            log.critical(
                "background loop died",
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"loop": name},
            )
        else:
            how = "cancelled" if task.cancelled() else "returned"
            log.critical("background loop died: it %s", how, extra={"loop": name})
        if self._on_death is not None:
            self._on_death(name)

    async def check(self) -> None:
        """Readiness: every loop still runs."""
        dead = [name for name, t in self._tasks.items() if t.done()]
        if dead:
            raise RuntimeError(f"stopped: {', '.join(dead)}")

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
