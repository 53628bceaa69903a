"""The periodic purge every service with a retention runs (shared/rounds.py: purge_every)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.exc import OperationalError

from shared.rounds import purge_every


async def test_a_transient_failure_is_tried_again_and_counts_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[int | Exception] = [OperationalError("DELETE", {}, Exception("gone")), 3, 0]
    calls = 0
    done = asyncio.Event()

    async def purge() -> int:
        nonlocal calls
        calls += 1
        if calls == len(outcomes):
            done.set()
        outcome = outcomes[min(calls, len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    caplog.set_level(logging.INFO, logger="shared.rounds")
    loop = asyncio.create_task(purge_every(purge, seconds=0.01, what="test rows"))
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        loop.cancel()
    messages = [r.getMessage() for r in caplog.records]
    assert "purging test rows failed" in messages
    assert messages.count("purged test rows") == 1  # 3 rows; a round of none says nothing
    logged = next(r for r in caplog.records if r.getMessage() == "purged test rows")
    assert logged.__dict__["count"] == 3


async def test_a_bug_ends_the_loop_instead_of_being_logged_for_ever() -> None:
    async def purge() -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await asyncio.wait_for(purge_every(purge, seconds=0.01, what="test rows"), timeout=5)
