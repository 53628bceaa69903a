"""Background loops of a service (consumers, relays), watched by its readiness check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Loops:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._ended)
        self._tasks[name] = task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error(
                "background loop stopped",
                extra={"route": task.get_name(), "error_type": type(exc).__name__},
            )

    async def check(self) -> None:
        """Readiness: every loop still runs."""
        dead = [name for name, t in self._tasks.items() if t.done()]
        if dead:
            raise RuntimeError(f"stopped: {', '.join(dead)}")

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
