"""The loop of a worker that works in rounds on a database queue (outbound's deliveries, the
notifications): a round claims up to a batch and returns how many it claimed; a full round
is followed at once by the next, a partial one by a wait for a wake-up or the poll pause.
And the periodic purge of rows that have had their time (``purge_every``: ingest's
idempotency keys, sent notifications, published outbox rows).

A transient failure (the database away: ``is_transient``) is retried with back-off, doubling
up to 10 s; what was claimed is retried after its lease. Anything else is a bug: it ends the
loop, which takes the service down (shared/tasks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.kafka.consumer import is_transient

log = logging.getLogger(__name__)


async def work_in_rounds(
    one_round: Callable[[], Awaitable[int]],
    *,
    batch: int,
    pause: float,
    wakeup: asyncio.Event,
    what: str,
) -> None:
    """Run ``one_round`` for ever; ``what`` names the round in the log ("delivery round")."""
    backoff = pause
    while True:
        try:
            claimed = await one_round()
            backoff = pause
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("%s failed; retrying", what, extra={"error_type": type(exc).__name__})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            continue
        if claimed < batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=pause)
            wakeup.clear()


async def purge_every(purge: Callable[[], Awaitable[int]], *, seconds: float, what: str) -> None:
    """Run ``purge`` (it deletes what has had its time, returns how many) every ``seconds``
    for ever; ``what`` names the rows in the log ("sent notifications", a count, never their
    contents). A transient failure (the database away) is tried again next time; anything
    else is a bug and ends the loop, as in ``work_in_rounds``."""
    while True:
        try:
            purged = await purge()
        except Exception as exc:  # not a cancellation: that is no Exception
            if not is_transient(exc):
                raise
            log.warning("purging %s failed", what, extra={"error_type": type(exc).__name__})
        else:
            if purged:
                log.info("purged %s", what, extra={"count": purged})
        await asyncio.sleep(seconds)
