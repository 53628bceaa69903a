"""The delivery worker and the consumer's handler on an embedded SQLite database, with a fake
adapter and a clock the test moves: the state transitions of one delivery."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outbound.adapters import Adapters
from services.outbound.channels.base import Sent
from services.outbound.config import OutboundSettings
from services.outbound.consume import Consume, accept
from services.outbound.orm import deliveries, metadata, outbox
from services.outbound.worker import DeliveryWorker
from shared.contracts.outbound import (
    DeliverReply,
    DeliveryReportReceived,
    ReplyChannel,
    ReplyStatus,
)
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent, source_urn
from tests.support import FakeAdapter, deliver_reply

SOURCE = source_urn("00000000000000000000", "eenloket-test")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbound.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


SETTINGS = OutboundSettings(
    environment="test", max_attempts=3, backoff_base_seconds=10, backoff_max_seconds=100
)


def worker(
    sessions: async_sessionmaker[AsyncSession], adapter: FakeAdapter, clock: Clock
) -> DeliveryWorker:
    return DeliveryWorker(
        sessions=sessions,
        adapters=Adapters({ReplyChannel.EMAIL: adapter}),
        settings=SETTINGS,
        clock=clock,
        uniform=lambda a, b: b,  # no jitter: the test knows when a retry is due
    )


async def add(
    sessions: async_sessionmaker[AsyncSession], request: DeliverReply, clock: Clock
) -> bool:
    async with sessions() as session, session.begin():
        return await accept(session, request, clock.now)


async def delivery(sessions: async_sessionmaker[AsyncSession], reply_id: uuid.UUID) -> Any:
    async with sessions() as session:
        return (
            await session.execute(select(deliveries).where(deliveries.c.reply_id == reply_id))
        ).one()


async def reported(
    sessions: async_sessionmaker[AsyncSession], reply_id: uuid.UUID
) -> list[tuple[str, Any]]:
    async with sessions() as session:
        rows = (
            await session.execute(select(outbox.c.payload).order_by(outbox.c.position))
        ).scalars()
        return [
            (p["data"]["status"], p["data"]["reason"] or p["data"]["reference"])
            for p in rows
            if p["subject"] == str(reply_id)
        ]


async def test_sent_once_and_reported_with_its_reference(sessions: Any) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    assert await add(sessions, request, clock)
    assert not await add(sessions, request, clock)  # the same request again changes nothing
    w = worker(sessions, adapter, clock)
    assert await w.run_once() == 1
    assert await w.run_once() == 0
    assert adapter.sent(request.reply_id) == 1
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.attempts, row.reference) == (
        "sent",
        1,
        f"<{request.reply_id}@test.example>",
    )
    assert await reported(sessions, request.reply_id) == [("sent", row.reference)]


async def test_temporary_failures_wait_then_send(sessions: Any) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    adapter.tell(request.reply_id, temporary=2)
    await add(sessions, request, clock)
    w = worker(sessions, adapter, clock)
    assert await w.run_once() == 1
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.attempts, row.reason) == ("requested", 1, "aanbieder antwoordt 503")
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)
    assert await w.run_once() == 0  # not due yet
    clock.advance(10)
    assert await w.run_once() == 1
    assert (await delivery(sessions, request.reply_id)).next_attempt_at == clock.now + timedelta(
        seconds=20
    )
    clock.advance(20)
    assert await w.run_once() == 1
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.attempts, row.reason) == ("sent", 3, None)
    assert [s for s, _ in await reported(sessions, request.reply_id)] == ["sent"]


async def test_temporary_failures_up_to_the_ceiling_fail_with_the_last_reason(
    sessions: Any,
) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    adapter.tell(request.reply_id, temporary=99)
    await add(sessions, request, clock)
    w = worker(sessions, adapter, clock)
    for _ in range(SETTINGS.max_attempts):
        assert await w.run_once() == 1
        clock.advance(1000)
    assert await w.run_once() == 0
    assert adapter.sent(request.reply_id) == SETTINGS.max_attempts
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.reason) == ("failed", "aanbieder antwoordt 503")
    assert await reported(sessions, request.reply_id) == [("failed", "aanbieder antwoordt 503")]


async def test_a_permanent_failure_fails_at_once(sessions: Any) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    adapter.tell(request.reply_id, permanent="adres bestaat niet")
    await add(sessions, request, clock)
    assert await worker(sessions, adapter, clock).run_once() == 1
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.attempts, row.reason) == ("failed", 1, "adres bestaat niet")
    assert await reported(sessions, request.reply_id) == [("failed", "adres bestaat niet")]


async def test_a_channel_without_adapter_fails_with_its_reason(sessions: Any) -> None:
    request, clock = deliver_reply(ReplyChannel.LETTER), Clock()
    await add(sessions, request, clock)
    assert await worker(sessions, FakeAdapter(), clock).run_once() == 1
    assert await reported(sessions, request.reply_id) == [("failed", "kanaal niet ingericht")]


async def test_a_crash_while_sending_sends_again_after_the_lease(sessions: Any) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    await add(sessions, request, clock)
    w = worker(sessions, adapter, clock)
    # The worker claimed it and died before recording the outcome.
    claimed = await w._claim()
    assert [c.request.reply_id for c in claimed] == [request.reply_id]
    assert (await delivery(sessions, request.reply_id)).status == "sending"
    assert await w.run_once() == 0  # leased
    clock.advance(SETTINGS.lease_seconds)
    assert await w.run_once() == 1
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.attempts) == ("sent", 2)


class HeldAdapter(FakeAdapter):
    """Sends at once, except the replies it holds until ``release`` is set."""

    def __init__(self, held: set[uuid.UUID]) -> None:
        super().__init__()
        self.held = held
        self.release = asyncio.Event()

    async def send(self, request: DeliverReply) -> Sent:
        if request.reply_id in self.held:
            await self.release.wait()
        return await super().send(request)


async def test_each_outcome_is_recorded_when_its_provider_answered(sessions: Any) -> None:
    # A kill while one send of a batch hangs must not double the others: they were recorded.
    clock = Clock()
    fast, slow = deliver_reply(), deliver_reply()
    for request in (fast, slow):
        await add(sessions, request, clock)
    adapter = HeldAdapter({slow.reply_id})
    round_ = asyncio.ensure_future(worker(sessions, adapter, clock).run_once())
    try:
        deadline = time.monotonic() + 5
        while (await delivery(sessions, fast.reply_id)).status != "sent":
            assert not round_.done() and time.monotonic() < deadline, "not recorded meanwhile"
            await asyncio.sleep(0)  # lets the worker's round go on
        assert (await delivery(sessions, slow.reply_id)).status == "sending"
        assert await reported(sessions, fast.reply_id) == [
            ("sent", f"<{fast.reply_id}@test.example>")
        ]
        adapter.release.set()
        assert await asyncio.wait_for(round_, 5) == 2
    finally:
        round_.cancel()
    assert (await delivery(sessions, slow.reply_id)).status == "sent"


async def test_a_lease_that_runs_out_at_the_ceiling_fails(sessions: Any) -> None:
    clock = Clock()
    request = deliver_reply()
    await add(sessions, request, clock)
    w = worker(sessions, FakeAdapter(), clock)
    for _ in range(SETTINGS.max_attempts):
        assert len(await w._claim()) == 1  # and died each time
        clock.advance(SETTINGS.lease_seconds)
    assert await w.run_once() == 0
    row = await delivery(sessions, request.reply_id)
    assert (row.status, row.reason) == ("failed", "verzending 3 keer afgebroken")


def report_event(report: DeliveryReportReceived) -> CloudEvent:
    return CloudEvent(source=SOURCE, type=report.TYPE, data=report.model_dump(mode="json"))


async def test_reports_move_a_sent_delivery_on(sessions: Any) -> None:
    adapter, clock = FakeAdapter(), Clock()
    request = deliver_reply()
    await add(sessions, request, clock)
    await worker(sessions, adapter, clock).run_once()
    consume = Consume(source=SOURCE, status_topic="status")

    async def report(**fields: Any) -> str:
        r = DeliveryReportReceived(channel=ReplyChannel.EMAIL, at=clock.now, **fields)
        async with sessions() as session, session.begin():
            await consume.apply_report(session, r, report_event(r))
        return str((await delivery(sessions, request.reply_id)).status)

    reference = f"<{request.reply_id}@test.example>"
    assert await report(reference=reference, status=ReplyStatus.DELIVERED) == "delivered"
    assert await report(reference=reference, status=ReplyStatus.DELIVERED) == "delivered"
    assert await report(token=request.token, status=ReplyStatus.BOUNCED, reason="550") == "bounced"
    assert await report(token=request.token, status=ReplyStatus.DELIVERED) == "bounced"  # final
    assert await report(token="unknown", status=ReplyStatus.BOUNCED) == "bounced"
    assert await reported(sessions, request.reply_id) == [
        ("sent", reference),
        ("delivered", None),
        ("bounced", "550"),
    ]


async def test_a_report_that_overtakes_the_send_keeps_its_status_and_sent_is_reported_too(
    sessions: Any,
) -> None:
    """MessageBird may report "delivered" before our call returned: the delivery stays
    delivered, keeps the provider's reference, and the history gets "sent" as well."""
    clock = Clock()
    request = deliver_reply()
    await add(sessions, request, clock)
    consume = Consume(source=SOURCE, status_topic="status")

    class Overtaken(FakeAdapter):
        async def send(self, r: DeliverReply) -> Sent:
            sent = await super().send(r)
            report = DeliveryReportReceived(
                channel=ReplyChannel.EMAIL,
                at=clock.now,
                token=r.token,
                status=ReplyStatus.DELIVERED,
            )
            async with sessions() as session, session.begin():
                await consume.apply_report(session, report, report_event(report))
            return sent

    await worker(sessions, Overtaken(), clock).run_once()
    row = await delivery(sessions, request.reply_id)
    reference = f"<{request.reply_id}@test.example>"
    assert (row.status, row.reference) == ("delivered", reference)
    assert await reported(sessions, request.reply_id) == [("delivered", None), ("sent", reference)]
