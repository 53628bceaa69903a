"""Group commit of the access log (services/caseview/access_log/group.py): concurrent reads'
entries share one write; a read returns only once its write succeeded; a failed write fails
every read it covers and no other."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.caseview.access_log.group import AccessLogUnavailableError, GroupLog, Rows
from tests.support import eventually


class FakeLog:
    """The writes the group log made, in order; a gate holds a write until released, and a
    write can be told to fail."""

    def __init__(self) -> None:
        self.writes: list[Rows] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing: set[int] = set()  # which writes (0, 1, ...) fail

    async def wrote(self, n: int) -> bool:
        return len(self.writes) >= n

    async def write(self, rows: Rows) -> None:
        self.writes.append(rows)
        n = len(self.writes) - 1
        await self.gate.wait()
        if n in self.failing:
            raise OSError("disk full")


def entry() -> dict[str, Any]:
    return {"party_id": uuid.uuid4()}


async def first_write_held(fake: FakeLog, log: GroupLog) -> asyncio.Task[None]:
    """A first read whose write has begun and is held at the gate."""
    fake.gate.clear()
    first = asyncio.create_task(log.append([entry()]))
    await eventually(lambda: fake.wrote(1), interval=0.001)
    return first


async def test_one_read_alone_is_written_at_once() -> None:
    fake = FakeLog()
    log = GroupLog(fake.write)
    row = entry()
    await log.append([row])
    assert fake.writes == [[row]]


async def test_reads_arriving_during_a_write_share_the_next_and_wait_for_it() -> None:
    fake = FakeLog()
    log = GroupLog(fake.write)
    first = await first_write_held(fake, log)
    later = [[entry(), entry()], [entry()], [entry()]]
    waiting = [asyncio.create_task(log.append(rows)) for rows in later]
    await asyncio.sleep(0)
    assert not any(t.done() for t in [first, *waiting])  # nothing leaves before its commit
    fake.gate.set()
    await asyncio.gather(first, *waiting)
    assert len(fake.writes) == 2
    assert fake.writes[1] == [row for rows in later for row in rows]


async def test_a_failed_write_fails_every_read_it_covers_and_no_other() -> None:
    fake = FakeLog()
    log = GroupLog(fake.write)
    fake.failing = {1}  # the second write, holding exactly ``covered``
    before = await first_write_held(fake, log)
    covered_rows = [[entry()], [entry(), entry()], [entry()]]
    covered = [asyncio.create_task(log.append(rows)) for rows in covered_rows]
    await asyncio.sleep(0)
    fake.gate.set()
    await before  # its own write succeeded
    outcomes = await asyncio.gather(*covered, return_exceptions=True)
    assert fake.writes[1] == [row for rows in covered_rows for row in rows]
    assert all(isinstance(o, AccessLogUnavailableError) for o in outcomes)
    assert all(isinstance(o.__cause__, OSError) for o in outcomes)
    after = [entry()]
    await log.append(after)  # the next transaction starts afresh
    assert fake.writes[2] == after


async def test_groups_are_bounded() -> None:
    fake = FakeLog()
    log = GroupLog(fake.write, max_reads=2)
    first = await first_write_held(fake, log)
    rest = [asyncio.create_task(log.append([entry()])) for _ in range(5)]
    await asyncio.sleep(0)
    fake.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(w) for w in fake.writes] == [1, 2, 2, 1]


async def test_a_reader_gone_away_does_not_stop_the_others() -> None:
    fake = FakeLog()
    log = GroupLog(fake.write)
    first = await first_write_held(fake, log)
    gone = asyncio.create_task(log.append([entry()]))
    stays = asyncio.create_task(log.append([entry()]))
    await asyncio.sleep(0)
    gone.cancel()
    fake.gate.set()
    await asyncio.gather(first, stays)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert len(fake.writes[1]) == 2  # its entry is still written: logged, though not shown
