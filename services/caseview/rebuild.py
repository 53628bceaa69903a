"""Rebuilding the read models from ``omni.timeline.v1`` (offset 0) and switching over.

1. A shadow copy of the projection tables is created beside the live ones: a
   schema ``cv_rebuild`` on PostgreSQL, an attached database file on SQLite.
   The same projector code writes it through SQLAlchemy's schema translation.
2. A ``TransactionalConsumer`` with a fresh group id replays the topic into the
   shadow until it reached the topic's end as it was at the start.
3. Switch-over, repeated until it succeeds: stop the shadow consumer; in one
   transaction that holds the projector lock (so no live batch commits
   meanwhile) check the shadow reached every live offset, then replace the live
   projection rows, processed ids and offsets with the shadow's. The live
   projector continues from the shadow's offsets; a batch it had in flight is
   refused by the event-id constraints and redone, skipping what is done.
   Before replacing anything, the shadow is compared with the live tables at the same
   offsets (``projection_diff.py``): when they differ the switch is refused, unless forced,
   and the report names per table how many rows differ and the first keys. (A rebuild after
   a projector fix is meant to differ: run ``--no-switch`` first, read the report, then
   force.)
4. The live tables are hashed (``projection_hash``) and compared with the shadow.

Live-stream positions are shifted above every position handed out before, so a
client resuming with an old ``Last-Event-ID`` gets entries again (never misses
one). The access log and `staff_commands` (who sent which command) are not projections
and stay as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import delete, func, insert, literal, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.caseview.config import CaseviewSettings
from services.caseview.orm import (
    PROJECTION_TABLES,
    consumer_offsets,
    metadata,
    processed_events,
    timeline_entries,
)
from services.caseview.projection_diff import (
    TableDifference,
    compare,
    in_schema,
    projection_hash,
)
from services.caseview.projector import FEED_LOCK_INFO, FEED_LOCK_KEY, project
from shared.db.engine import create_engine, is_sqlite
from shared.envelope import CloudEvent
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.records import Record

log = logging.getLogger(__name__)

SHADOW_LOCK_KEY = FEED_LOCK_KEY + 1
SHADOW_TABLES = (*PROJECTION_TABLES, processed_events, consumer_offsets)


@dataclass(frozen=True)
class RebuildReport:
    group: str
    events: int
    offsets: dict[int, int]
    shadow_hash: str
    live_hash: str
    switched: bool
    seconds: float
    tables: dict[str, str] = field(default_factory=dict)
    # Per table, the rows that differed between the rebuild and the live projection (at
    # the same offsets); a switch refused because of them leaves ``switched`` False.
    differences: tuple[TableDifference, ...] = ()
    refused: bool = False
    # Refused because the live projector did not reach the rebuild's offsets in time (is
    # caseview projecting?): the differences then include what live has not projected yet.
    live_behind: bool = False

    @property
    def identical(self) -> bool:
        return self.shadow_hash == self.live_hash


class Shadow:
    """The shadow copy: where it lives, its engine, its sessions."""

    def __init__(self, settings: CaseviewSettings) -> None:
        self.schema = settings.rebuild_schema
        self.url = settings.database_url
        self.sqlite = is_sqlite(self.url)
        self.file: Path | None = None
        self.base: AsyncEngine = create_engine(self.url)
        if self.sqlite:
            database = make_url(self.url).database
            if not database or database == ":memory:":
                raise ValueError("rebuild needs a file database on SQLite")
            self.file = Path(f"{database}.{self.schema}")
            self._attach(self.base, self.file)
        # The same projector code, writing the shadow through schema translation.
        self.engine = self.base.execution_options(schema_translate_map={None: self.schema})
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={FEED_LOCK_INFO: SHADOW_LOCK_KEY}
        )
        self.live_sessions = async_sessionmaker(self.base, expire_on_commit=False)

    def _attach(self, engine: AsyncEngine, file: Path) -> None:
        schema = self.schema

        @sa_event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(file),))
            cursor.close()

    async def create(self) -> None:
        await self.drop()
        if not self.sqlite:
            async with self.base.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=list(SHADOW_TABLES)))

    async def drop(self) -> None:
        if self.sqlite:
            async with self.engine.begin() as conn:
                await conn.run_sync(lambda c: metadata.drop_all(c, tables=list(SHADOW_TABLES)))
        else:
            async with self.base.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    async def dispose(self) -> None:
        await self.base.dispose()
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()


async def _offsets(session: AsyncSession, group: str, topic: str) -> dict[int, int]:
    o = consumer_offsets
    rows = await session.execute(
        select(o.c.partition, o.c.next_offset).where(
            o.c.consumer_group == group, o.c.topic == topic
        )
    )
    return {int(r.partition): int(r.next_offset) for r in rows}


async def end_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The topic's end offset per partition: where "caught up" is, at this moment."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for d in described for p in d["partitions"])
    if not partitions:
        raise ValueError(f"topic {topic} has no partitions (does it exist?)")
    # With a group id (never joined, never committed): aiokafka's group-less consumer
    # does not stop cleanly.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        await consumer.stop()
    return {tp.partition: int(offset) for tp, offset in ends.items()}


def _reached(have: dict[int, int], want: dict[int, int]) -> bool:
    return all(have.get(p, 0) >= n for p, n in want.items() if n > 0)


async def _handle(session: AsyncSession, event: CloudEvent, record: Record) -> None:
    await project(session, event)


class _Replay:
    """The shadow consumer, startable again after a stop (it resumes at its stored offsets)."""

    def __init__(self, settings: CaseviewSettings, shadow: Shadow, group: str, dlt: DeadLetters):
        self._settings = settings
        self._shadow = shadow
        self._group = group
        self._dlt = dlt
        self._consumer: TransactionalConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self._settings
        self._consumer = TransactionalConsumer(
            bootstrap=s.kafka_bootstrap,
            group_id=self._group,
            topics=[s.topic_timeline],
            sessions=self._shadow.sessions,
            tables=ConsumerTables(offsets=consumer_offsets, processed=processed_events),
            handler=_handle,
            dead_letters=self._dlt,
            client_id="eenloket-caseview-rebuild",
            max_records=s.max_batch,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._consumer.run(), name="caseview-rebuild")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def check(self) -> None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            raise RuntimeError("the rebuild consumer stopped") from exc


async def rebuild(
    settings: CaseviewSettings,
    *,
    switch: bool = True,
    force: bool = False,
    settle: float = 30.0,
    timeout: float = 3600.0,  # noqa: ASYNC109 - the whole rebuild's deadline
    progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Replay the timeline topic into a shadow and (``switch``) make it the live read model.

    Safe while caseview serves and projects. Returns hashes of the shadow and of the
    live tables: after a switch they are equal by construction, and a test (or an
    operator, with ``switch=False`` on a caught-up service) compares them.
    """
    started = time.monotonic()
    deadline = started + timeout
    topic = settings.topic_timeline
    group = f"{settings.consumer_group}-rebuild-{uuid.uuid4().hex[:8]}"
    shadow = Shadow(settings)
    producer = make_producer(settings.kafka_bootstrap, "eenloket-caseview-rebuild")
    await producer.start()
    replay = _Replay(settings, shadow, group, DeadLetters(producer, settings.topic_deadletter))
    try:
        await shadow.create()
        target = await end_offsets(settings.kafka_bootstrap, topic, group)
        await replay.start()

        async def caught_up(want: dict[int, int], *, report: bool = False) -> dict[int, int]:
            while True:
                replay.check()
                async with shadow.sessions() as s:
                    have = await _offsets(s, group, topic)
                if progress is not None and report:
                    progress(
                        sum(min(have.get(p, 0), n) for p, n in want.items()), sum(want.values())
                    )
                if _reached(have, want):
                    return have
                if time.monotonic() > deadline:
                    raise TimeoutError("rebuild did not catch up in time")
                await asyncio.sleep(0.2)

        await caught_up(target, report=True)
        outcome = _Switch.RETRY
        found: list[TableDifference] = []
        behind = False
        while switch and outcome in (_Switch.RETRY, _Switch.LIVE_BEHIND):
            async with shadow.live_sessions() as s:
                live = await _offsets(s, settings.consumer_group, topic)
            await caught_up(live)
            await replay.stop()
            outcome, found = await _switch(
                shadow, settings.consumer_group, group, topic, force=force
            )
            if outcome is _Switch.RETRY:
                await replay.start()  # the live projector moved on meanwhile: catch up again
            elif outcome is _Switch.LIVE_BEHIND and not await _live_reaches(
                shadow,
                settings.consumer_group,
                group,
                topic,
                min(settle, deadline - time.monotonic()),
            ):
                # The live projector does not get where the rebuild is (caseview not running,
                # or stuck): the two cannot be compared at one position.
                behind = True
                async with shadow.live_sessions() as s:
                    _, _, found = await compare(s, shadow.schema)
                outcome = _Switch.REFUSED
        await replay.stop()
        switched = outcome is _Switch.DONE
        async with shadow.sessions() as s:
            shadow_hash, _ = await projection_hash(s, None)
            events = int(
                await s.scalar(
                    select(func.count())
                    .select_from(processed_events)
                    .where(processed_events.c.consumer_group == group)
                )
                or 0
            )
            offsets = await _offsets(s, group, topic)
        async with shadow.live_sessions() as s:
            live_hash, tables = await projection_hash(s, None)
            if not switch and shadow_hash != live_hash:
                _, _, found = await compare(s, shadow.schema)
        log.info("caseview rebuild finished", extra={"count": events, "group": group})
        return RebuildReport(
            group=group,
            events=events,
            offsets=offsets,
            shadow_hash=shadow_hash,
            live_hash=live_hash,
            switched=switched,
            seconds=round(time.monotonic() - started, 3),
            tables=tables,
            differences=tuple(found),
            refused=outcome is _Switch.REFUSED,
            live_behind=behind,
        )
    finally:
        await replay.stop()
        with contextlib.suppress(Exception):
            await shadow.drop()
        await shadow.dispose()
        await producer.stop()


class _Switch(enum.Enum):
    DONE = "done"
    RETRY = "retry"  # the live projector moved on: the shadow catches up first
    LIVE_BEHIND = "live-behind"  # the shadow is further: the live projector catches up first
    REFUSED = "refused"  # the shadow differs from the live projection and nothing forced it


async def _switch(
    shadow: Shadow, live_group: str, shadow_group: str, topic: str, *, force: bool
) -> tuple[_Switch, list[TableDifference]]:
    """One transaction: the shadow becomes the live read model, or nothing changes."""
    schema = shadow.schema
    async with shadow.live_sessions() as session, session.begin():
        if not shadow.sqlite:
            # The live projector's lock: no live batch commits while we swap.
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK_KEY})
        live = await _offsets(session, live_group, topic)
        mine = await _shadow_offsets(session, schema, shadow_group, topic)
        if not _reached(mine, live):
            await session.rollback()
            return _Switch.RETRY, []
        if not force and not _reached(live, mine):
            await session.rollback()
            return _Switch.LIVE_BEHIND, []
        # Compared under the projector lock, at the same offsets: a difference is real.
        _, _, found = await compare(session, schema)
        if found and not force:
            await session.rollback()
            return _Switch.REFUSED, found
        shift = int(await session.scalar(select(func.max(timeline_entries.c.position))) or 0)
        for table in reversed(PROJECTION_TABLES):
            await session.execute(delete(table))
        for table in PROJECTION_TABLES:
            source = in_schema(table, schema)
            names = [c.name for c in table.c]
            columns: list[Any] = [source.c[n] for n in names]
            if table is timeline_entries:
                columns[names.index("position")] = (source.c.position + shift).label("position")
            await session.execute(insert(table).from_select(names, select(*columns)))
        p = processed_events
        sp = in_schema(p, schema)
        await session.execute(delete(p).where(p.c.consumer_group == live_group))
        await session.execute(
            insert(p).from_select(
                ["consumer_group", "event_id", "processed_at"],
                select(literal(live_group), sp.c.event_id, sp.c.processed_at).where(
                    sp.c.consumer_group == shadow_group
                ),
            )
        )
        o = consumer_offsets
        so = in_schema(o, schema)
        await session.execute(delete(o).where(o.c.consumer_group == live_group, o.c.topic == topic))
        await session.execute(
            insert(o).from_select(
                ["consumer_group", "topic", "partition", "next_offset", "updated_at"],
                select(
                    literal(live_group),
                    so.c.topic,
                    so.c.partition,
                    so.c.next_offset,
                    so.c.updated_at,
                ).where(so.c.consumer_group == shadow_group, so.c.topic == topic),
            )
        )
        if not shadow.sqlite:
            # Positions drawn from now on continue above the copied ones.
            await session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('timeline_entries', 'position'), "
                    "GREATEST((SELECT max(position) FROM timeline_entries), 1))"
                )
            )
    return _Switch.DONE, found


async def _live_reaches(
    shadow: Shadow, live_group: str, shadow_group: str, topic: str, seconds: float
) -> bool:
    """Wait (at most ``seconds``) for the live projector to reach the shadow's offsets."""
    deadline = time.monotonic() + max(seconds, 0.0)
    while True:
        async with shadow.live_sessions() as session:
            live = await _offsets(session, live_group, topic)
            mine = await _shadow_offsets(session, shadow.schema, shadow_group, topic)
        if _reached(live, mine):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)


async def _shadow_offsets(
    session: AsyncSession, schema: str, group: str, topic: str
) -> dict[int, int]:
    so = in_schema(consumer_offsets, schema)
    rows = await session.execute(
        select(so.c.partition, so.c.next_offset).where(
            so.c.consumer_group == group, so.c.topic == topic
        )
    )
    return {int(r.partition): int(r.next_offset) for r in rows}
