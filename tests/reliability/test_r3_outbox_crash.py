"""R3 — the outbox's crash windows (docs/reliability.md).

The router runs whole, in this process, with its own outbox relay replaced by one
that crashes at the three moments that matter, chosen at random per batch:

- ``after-commit-before-publish``: the router's transaction (effects + outbox rows)
  is committed, the relay dies before its first send;
- ``mid-publish``: part of the batch is on the wire, none of it marked;
- ``after-publish-before-mark``: everything acknowledged by the broker, the relay
  dies before marking the rows sent (the relay's own ``crash_hook``).

A crash is an exception out of ``publish_once``: the relay's transaction rolls back
(its claim and its advisory lock are gone, as when a process dies) and the router's
relay loop starts again, as a restarted process would. Pass: every outbox row is on
the timeline topic at least once, duplicates on the wire are counted (and must
exist: the last window makes them), each party's first copies on the topic (in
offset order, on one partition) and its rows in caseview (in the order applied)
carry sequence 1..n with party.created and case.opened before what they cause,
and caseview's projector applies each event exactly once — one timeline row per
event id for every event of a type this test says caseview must show (its own
list, not the projector's table), nothing dead-lettered, every wire duplicate
skipped. The test's topics are deleted at the end.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import services.router.bootstrap as router_bootstrap
from services.caseview import orm as cv
from services.router import orm as rt
from shared.contracts import IdentifierKind, Trust
from shared.envelope import CloudEvent
from shared.outbox import OutboxRelay
from tests.conftest import Topics
from tests.integration.caseview.conftest import projected, running, settings_for
from tests.integration.test_router import bsn, message, send
from tests.reliability.conftest import sized
from tests.reliability.harness import (
    CASE_OPENED,
    PARTY_CREATED,
    ROUTED,
    Seen,
    drop_topics,
    order_problems,
    seen_on_topic,
)
from tests.reliability.inproc import (
    drain,
    engine_for,
    kafka_lag,
    record_history,
    running_router,
)
from tests.support import eventually, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

POINTS = ("after-commit-before-publish", "mid-publish", "after-publish-before-mark")
# What the router makes of this test's messages, every one of which caseview must show as a
# timeline row: this test's own list (a first message: party, case, message; a follow-up:
# message). Another type on the wire fails the test until it is decided here.
CASEVIEW_SHOWS = frozenset({PARTY_CREATED, CASE_OPENED, ROUTED})


class CrashError(Exception):
    """Stands for the relay's process dying at a named point."""


class CrashPlan:
    """Decides, per relay batch, whether and where it crashes (seeded, reproducible)."""

    def __init__(self, seed: int, probability: float = 0.4) -> None:
        self.random = random.Random(seed)
        self.probability = probability
        self.crashes: Counter[str] = Counter()
        self.batches = 0
        self._in_a_row = 0
        self.point: str | None = None
        self.sends_left = 0

    def next_batch(self) -> None:
        self.batches += 1
        if self.point == "mid-publish":
            # Still armed: the last batch had no second send to crash before (its rows were
            # all in one partition, or there were none). Try again, from this batch's start.
            self.sends_left = 1
            return
        if self.point is not None:
            # Still armed: the last round found no rows (the relay polls every 50 ms), so it
            # had no send and no mark to crash at. Without this, most crashes planned for the
            # other two points were dropped on empty rounds, and a CI-sized run sometimes hit
            # no after-commit-before-publish crash at all.
            return
        # At most two crashes in a row: the relay's back-off doubles per failure.
        if self._in_a_row < 2 and self.random.random() < self.probability:
            # A window not crashed at yet first, so every run covers all three.
            self.point = self.random.choice([p for p in POINTS if not self.crashes[p]] or POINTS)
            self._in_a_row += 1
        else:
            self.point = None
            self._in_a_row = 0
        # The router's relay sends a relay batch (50 rows) as one producer batch per
        # partition: with the tests' 3 timeline partitions, crashing after the first or the
        # second send is mid-publish (some partitions sent, some not).
        self.sends_left = self.random.randint(1, 2) if self.point == "mid-publish" else 0

    def crash(self, point: str) -> None:
        self.crashes[point] += 1
        self.point = None
        raise CrashError(point)


class CrashingProducer:
    """The relay's producer, crashing before a send (of a record or, as the router's relay
    publishes, of a partition's batch) when the plan says so."""

    def __init__(self, inner: AIOKafkaProducer, plan: CrashPlan) -> None:
        self._inner = inner
        self._plan = plan

    def _before_send(self) -> None:
        plan = self._plan
        if plan.point == "after-commit-before-publish":
            plan.crash(plan.point)
        if plan.point == "mid-publish":
            if plan.sends_left == 0:
                plan.crash(plan.point)
            plan.sends_left -= 1

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        self._before_send()
        return await self._inner.send(*args, **kwargs)

    async def send_batch(self, *args: Any, **kwargs: Any) -> Any:
        self._before_send()
        return await self._inner.send_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def crashing_relay(plan: CrashPlan) -> Any:
    """A drop-in for ``OutboxRelay`` in the router's composition root."""

    class CrashingRelay(OutboxRelay):
        def __init__(
            self,
            *,
            sessions: async_sessionmaker[AsyncSession],
            table: Any,
            producer: AIOKafkaProducer,
            **_: Any,
        ) -> None:
            async def hook(point: str) -> None:
                if plan.point == point:
                    plan.crash(point)

            super().__init__(
                sessions=sessions,
                table=table,
                producer=CrashingProducer(producer, plan),
                batch_size=50,  # many batches, so many crash windows
                poll_interval=0.05,
                crash_hook=hook,
            )

        async def publish_once(self) -> int:
            plan.next_batch()
            return await super().publish_once()

    return CrashingRelay


@pytest.fixture
async def deleted_at_the_end(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[None]:
    """The test's topics are deleted when it ends, also when it fails."""
    yield
    await drop_topics(
        kafka_bootstrap, [topics.inbound, topics.timeline, topics.commands, topics.deadletter]
    )


async def test_outbox_crash_windows_lose_nothing_and_apply_once(
    kafka_bootstrap: str,
    pg_urls: dict[str, str],
    topics: Topics,
    deleted_at_the_end: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = sized(ci=1000, full=3000)  # outbox events
    seed = random.randrange(2**32)
    plan = CrashPlan(seed)
    monkeypatch.setattr(router_bootstrap, "OutboxRelay", crashing_relay(plan))

    # First messages of new senders make three events each (party, case, message);
    # a follow-up about the same product joins the open case: one event.
    senders = target // 4
    firsts = []
    follow_ups = []
    for _ in range(senders):
        who = (IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED)
        firsts.append((who, message(who, text="Mijn paspoort is verlopen", product="paspoort")))
        follow_ups.append((who, message(who, text="Nog een vraag", product="paspoort")))

    engine = engine_for(pg_urls["router"])
    o = rt.outbox
    try:
        settings = router_settings(kafka_bootstrap, pg_urls["router"], topics)
        async with running_router(settings):
            from shared.kafka.config import make_producer

            producer = make_producer(kafka_bootstrap, "r3-test")
            await producer.start()
            try:
                for (who, m), (_, f) in zip(firsts, follow_ups, strict=True):
                    key = who[1].encode()
                    await send(producer, topics.inbound, m, key=key)
                    await send(producer, topics.inbound, f, key=key)
            finally:
                await producer.stop()

            async def all_published() -> int | None:
                async with engine.connect() as conn:
                    total, left = (
                        await conn.execute(
                            select(
                                func.count(),
                                func.count().filter(o.c.published_at.is_(None)),
                            ).where(o.c.topic == topics.timeline)
                        )
                    ).one()
                return total if total >= target and left == 0 else None

            try:
                await eventually(all_published, timeout=300, interval=0.5)
            except AssertionError:
                async with engine.connect() as conn:
                    state = (
                        await conn.execute(
                            select(
                                func.count(), func.count().filter(o.c.published_at.is_(None))
                            ).where(o.c.topic == topics.timeline)
                        )
                    ).one()
                record_history(
                    "r3-outbox-crash-stalled",
                    {
                        "seed": seed,
                        "outbox_rows": state[0],
                        "unpublished": state[1],
                        "relay_batches": plan.batches,
                        "crashes": dict(plan.crashes),
                        "pending_point": plan.point,
                    },
                )
                raise
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(o.c.id, o.c.aggregateid, o.c.type, o.c.position).where(
                        o.c.topic == topics.timeline
                    )
                )
            ).all()
    finally:
        await engine.dispose()

    outbox_ids = {uuid.UUID(str(r.id)) for r in rows}
    assert len(outbox_ids) == len(rows) >= target
    assert all(plan.crashes[p] > 0 for p in POINTS), f"not every window was hit: {plan.crashes}"

    # The wire: everything there, duplicates counted.
    wire = await drain(kafka_bootstrap, topics.timeline)
    events = [CloudEvent.from_json(r.value) for r in wire]
    on_wire = Counter(e.id for e in events)
    lost = outbox_ids - set(on_wire)
    extra = set(on_wire) - outbox_ids
    duplicates = sum(n - 1 for n in on_wire.values())
    assert not lost, f"{len(lost)} outbox events never published"
    assert not extra
    assert duplicates > 0, "a crash after publishing must publish again"
    types = Counter(e.type for e in {e.id: e for e in events}.values())
    assert set(types) <= CASEVIEW_SHOWS, f"decide whether caseview must show {types}"
    # Each party's first copies, in the order they arrived (offset order of its one
    # partition; duplicates only repeat): sequence 1..n, causes first.
    first_copies, partitions = seen_on_topic(sorted(wire, key=lambda r: (r.partition, r.offset)))
    assert order_problems(first_copies, "topic") == []
    assert all(len(p) == 1 for p in partitions.values()), "a party's events on one partition"
    assert all(
        len({r.partition for r in wire if r.key == party.encode()}) == 1 for party in partitions
    )

    # Caseview's projector on that topic: one effect per event id.
    cv_settings = settings_for(pg_urls["caseview"], kafka_bootstrap, topics, max_batch=200)
    distinct = {e.id: e for e in events}
    async with running(cv_settings):
        await projected(cv_settings, *distinct.values(), timeout=180)

        # Also the copies after the last first copy (a relay that crashed before marking
        # publishes its batch again): consumed to the topic's end before caseview stops.
        async def at_the_end() -> bool:
            lag = await kafka_lag(kafka_bootstrap, cv_settings.consumer_group, topics.timeline)
            return not any(lag.values())

        await eventually(at_the_end, timeout=60, interval=0.3)
    cv_engine = engine_for(pg_urls["caseview"])
    try:
        async with cv_engine.connect() as conn:
            entries = Counter(
                (
                    await conn.scalars(
                        select(cv.timeline_entries.c.event_id).where(
                            cv.timeline_entries.c.event_id.in_(list(distinct))
                        )
                    )
                ).all()
            )
            party_ids = [uuid.UUID(p) for p in partitions]
            t = cv.timeline_entries
            applied = (
                await conn.execute(
                    select(
                        t.c.position,
                        t.c.event_id,
                        t.c.party_id,
                        t.c.sequence,
                        t.c.type,
                        t.c.case_id,
                        t.c.message_id,
                    )
                    .where(t.c.party_id.in_(party_ids))
                    .order_by(t.c.position)  # the order the projector applied them
                )
            ).all()
            cases = await conn.scalar(
                select(func.count()).select_from(cv.cases).where(cv.cases.c.party_id.in_(party_ids))
            )
    finally:
        await cv_engine.dispose()
    # Every event has its row: all of this test's types are ones caseview must show.
    missing = set(distinct) - set(entries)
    assert not missing, f"{len(missing)} events without a timeline row: " + str(
        Counter(distinct[i].type for i in missing)
    )
    assert set(entries) == set(distinct)
    assert max(entries.values()) == 1
    cv_rows = [
        Seen(
            str(r.event_id),
            str(r.party_id),
            int(r.sequence),
            r.type,
            str(r.case_id) if r.case_id else None,
            str(r.message_id) if r.message_id else None,
            int(r.position),
        )
        for r in applied
    ]
    assert order_problems(cv_rows, "caseview") == []
    assert cases == sum(e.type == "nl.eenloket.case.opened" for e in distinct.values())
    skipped = REGISTRY.get_sample_value(
        "eenloket_consumer_duplicates_total",
        {"group": cv_settings.consumer_group, "topic": topics.timeline},
    )
    assert skipped == duplicates, "every wire duplicate is skipped by event id, none applied"
    dead = await drain(kafka_bootstrap, topics.deadletter)
    assert dead == []

    record_history(
        "r3-outbox-crash",
        {
            "seed": seed,
            "outbox_events": len(outbox_ids),
            "relay_batches": plan.batches,
            "crashes": dict(plan.crashes),
            "records_on_wire": len(wire),
            "wire_duplicates": duplicates,
            "duplicates_skipped_by_caseview": skipped,
            "timeline_rows": sum(entries.values()),
            "lost": sorted(map(str, lost)),
            "duplicate_ids": sorted(str(i) for i, n in on_wire.items() if n > 1),
            "types": types,
            "payload_bytes": sum(len(orjson.dumps(e.data)) for e in distinct.values()),
        },
    )
