"""The transactional outbox (design §7) and its relay.

A service writes the events it wants published into ``outbox`` in the same
transaction as its state change; the relay publishes them afterwards and marks
them sent. A crash between publish and mark publishes again: duplicates on the
wire are allowed, consumers drop them by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.dialect import is_postgres
from shared.envelope import CloudEvent
from shared.kafka.headers import (
    context_from_carrier,
    headers_from_carrier,
    outgoing_headers,
    trace_carrier,
)
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from shared.telemetry import exporting

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Only one relay per database publishes at a time, so per-aggregate order on the
# topic equals commit order; other replicas stand by. (Arbitrary constant.)
RELAY_LOCK_KEY = 0x0E_E1_0C_E7


def outbox_row(
    *, topic: str, aggregatetype: str, event: CloudEvent | dict[str, Any]
) -> dict[str, Any]:
    """One row for ``outbox``; the Kafka key is the aggregate id (the event's subject).

    ``event`` is an envelope, as a model or already in its JSON form (``envelope_json``)."""
    payload = (
        event.model_dump(mode="json", exclude_none=True) if isinstance(event, CloudEvent) else event
    )
    assert payload.get("subject"), "outbox events need a subject (the aggregate id)"
    return {
        "id": uuid.UUID(payload["id"]),
        "aggregatetype": aggregatetype,
        "aggregateid": payload["subject"],
        "type": payload["type"],
        "payload": payload,
        "topic": topic,
        "trace": trace_carrier() or None,
        "created_at": datetime.now(UTC),
    }


async def add_to_outbox(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(table.insert(), rows)


CrashHook = Callable[[str], Awaitable[None]]


async def _no_crash(_: str) -> None:
    return None


class OutboxRelay:
    """Publishes unpublished outbox rows in commit order, then marks them sent."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        producer: AIOKafkaProducer,
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        crash_hook: CrashHook = _no_crash,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._crash_hook = crash_hook  # reliability tests crash the process at named points

    def notify(self) -> None:
        """Wake the relay now (called after a commit that wrote outbox rows)."""
        self._wakeup.set()

    async def run(self) -> None:
        backoff = self._poll_interval
        while True:
            try:
                published = await self.publish_once()
                backoff = self._poll_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Kafka or the database is away: nothing was marked, so nothing is lost.
                log.warning(
                    "outbox relay failed; retrying", extra={"error_type": type(exc).__name__}
                )
                published = 0
                backoff = min(backoff * 2, 10.0)
                await asyncio.sleep(backoff)
                continue
            if published < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
                self._wakeup.clear()

    async def publish_once(self) -> int:
        """Publish one batch; returns how many rows it published."""
        t = self._table
        async with self._sessions() as session, session.begin():
            if is_postgres(session):
                got = await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RELAY_LOCK_KEY}
                )
                if not got:
                    return 0
            query = (
                select(t.c.position, t.c.aggregateid, t.c.payload, t.c.topic, t.c.trace)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.position)
                .limit(self._batch_size)
            )
            if is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            if not rows:
                OUTBOX_BACKLOG.set(0)
                return 0
            futures = []
            traced = exporting()
            for row in rows:
                if traced:
                    with tracer.start_as_current_span(
                        f"{row.topic} publish",
                        context=context_from_carrier(row.trace or {}),
                        kind=SpanKind.PRODUCER,
                    ):
                        headers = outgoing_headers()
                else:  # the stored context travels on as it is: same trace id, no span
                    headers = headers_from_carrier(row.trace or {})
                futures.append(
                    await self._producer.send(
                        row.topic,
                        value=orjson.dumps(row.payload),
                        key=row.aggregateid.encode(),
                        headers=headers,
                    )
                )
            await asyncio.gather(*futures)  # every record acknowledged (acks=all)
            await self._crash_hook("after-publish-before-mark")
            await session.execute(
                update(t)
                .where(t.c.position.in_([r.position for r in rows]))
                .values(published_at=datetime.now(UTC))
            )
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def backlog(self) -> int:
        t = self._table
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(t).where(t.c.published_at.is_(None))
            )
        OUTBOX_BACKLOG.set(count or 0)
        return int(count or 0)
