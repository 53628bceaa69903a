"""Group commit of the access log: the entries of concurrent reads written together, in one
transaction, by one writer task.

A read hands its entries to ``GroupLog.append`` and waits there until the transaction
holding them has committed; only then does its data leave (no log, no data). While one
transaction is being written and committed, the entries of the reads that arrive meanwhile
wait for the next one, which takes all of them: one read alone is written at once (no
linger), many at a time share one commit (one fsync on a durable database instead of one
each). A failed write fails exactly the reads whose entries it held; the next transaction
starts afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.caseview.orm import access_log

Rows = list[dict[str, Any]]
MAX_READS = 500  # per transaction: bounds one statement's size and a failure's reach


class AccessLogUnavailableError(RuntimeError):
    """The transaction holding this read's access-log entries did not commit."""


class GroupLog:
    def __init__(self, write: Callable[[Rows], Awaitable[None]], *, max_reads: int = MAX_READS):
        self._write = write
        self._max_reads = max_reads
        self._waiting: list[tuple[Rows, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, rows: Rows) -> None:
        """Return once ``rows`` are committed; raise ``AccessLogUnavailableError`` if not."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, done))
        if self._writer is None or self._writer.done():
            # Started when there is work and gone when there is none: nothing to stop.
            self._writer = asyncio.create_task(self._drain(), name="access-log-writer")
        await done

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_reads]
            del self._waiting[: self._max_reads]
            try:
                await self._write([row for rows, _ in batch for row in rows])
            except BaseException as exc:
                for _, done in batch:
                    if not done.done():
                        failed = AccessLogUnavailableError("access log not written")
                        failed.__cause__ = exc
                        done.set_exception(failed)
                if not isinstance(exc, Exception):  # cancelled: the waiting reads fail too
                    self._fail_waiting(exc)
                    raise
            else:
                for _, done in batch:
                    if not done.done():  # a reader that went away meanwhile
                        done.set_result(None)

    def _fail_waiting(self, exc: BaseException) -> None:
        for _, done in self._waiting:
            if not done.done():
                failed = AccessLogUnavailableError("access log writer stopped")
                failed.__cause__ = exc
                done.set_exception(failed)
        self._waiting.clear()


def session_writer(sessions: async_sessionmaker[AsyncSession]) -> Callable[[Rows], Awaitable[None]]:
    """One transaction per group, on a session of its own."""

    async def write(rows: Rows) -> None:
        async with sessions() as session:
            await session.execute(access_log.insert(), rows)
            await session.commit()

    return write


def group_log(state: Any) -> GroupLog:
    """The app's one ``GroupLog`` (made at the first read: it needs only the sessions)."""
    found: GroupLog | None = getattr(state, "access_group_log", None)
    if found is None:
        found = GroupLog(session_writer(state.sessions))
        state.access_group_log = found
    return found
