"""R10 — property test (hypothesis): duplicates and reorders do not change the projection.

Hypothesis draws a history of a few parties (cases, contacts, notes, handovers, a
suggested link and its decision, a party merge with a case folded across parties,
an unmerge) and a delivery of it:

- each party's events stay in one partition, in their order (Kafka's guarantee);
- parties sharing a partition are interleaved at random (the projector claims each
  event depends only on its own party's earlier events);
- the order across partitions is whatever the consumer fetches, and the batch size
  is drawn (1..25), so batch boundaries fall anywhere;
- random events are delivered again later in their partition (an outbox re-publish).

The delivery goes through Kafka and caseview's real consumer (batch path, dedup by
event id). Pass: the read model equals the one built by applying the deduplicated
stream in its original order, one event at a time (``project``), compared row by row
over every table (``timeline_entries.position`` left out: it is the commit order).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.caseview import orm as cv
from services.caseview.bootstrap import _handle, _handle_batch
from services.caseview.projector import project
from shared.contracts import (
    CaseHandedOver,
    CaseMerged,
    Channel,
    LinkDecided,
    LinkSuggested,
    NoteAdded,
    PartyIdentifier,
    PartyMerged,
    PartyUnmerged,
)
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.integration.caseview.conftest import STAFF, Party
from tests.reliability.inproc import (
    CASEVIEW_MIGRATIONS,
    database_rows,
    fresh_database,
    record_history,
    rows_diff,
)
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.full_only]

PARTITIONS = 3
SKIP_TABLES = {"processed_events", "consumer_offsets", "access_log", "alembic_version"}
SKIP_COLUMNS = {"timeline_entries": {"position"}}
RUNS: list[dict[str, Any]] = []


def build_history(draw: Any) -> list[tuple[int, list[CloudEvent]]]:
    """Per party: (partition, its events in order)."""
    parties = [Party() for _ in range(draw(st.integers(2, 5)))]
    streams: dict[uuid.UUID, list[CloudEvent]] = {p.id: [] for p in parties}
    cases: dict[uuid.UUID, tuple[uuid.UUID, str, list[uuid.UUID]]] = {}
    for n, p in enumerate(parties):
        streams[p.id].append(p.created(f"Persoon {n}", ("bsn", f"{n:09d}", "authenticated")))
        case_id, number, opened = p.case(draw(st.sampled_from(["afval", "paspoort"])), "kcc")
        streams[p.id].append(opened)
        messages = []
        for _ in range(draw(st.integers(1, 4))):
            m = p.message(case_id, number, draw(st.sampled_from(list(Channel))), "tekst")
            messages.append(uuid.UUID(m.data["message_id"]))
            streams[p.id].append(m)
        if draw(st.booleans()):
            streams[p.id].append(
                p.event(
                    NoteAdded(
                        note_id=uuid.uuid4(),
                        case_id=case_id,
                        party_id=p.id,
                        text="notitie",
                        by=STAFF,
                        at=p.at(),
                    )
                )
            )
        if draw(st.booleans()):
            streams[p.id].append(
                p.event(
                    CaseHandedOver(
                        case_id=case_id,
                        case_number=number,
                        party_id=p.id,
                        from_team="kcc",
                        to_team="afval",
                        by=STAFF,
                        reason="hoort daar",
                        handover_count=1,
                        at=p.at(),
                    )
                )
            )
        cases[p.id] = (case_id, number, messages)
    a, b = parties[0], parties[1]
    if draw(st.booleans()):  # b's sender claimed a's identifier; a person confirms
        suggestion = uuid.uuid4()
        claimed = PartyIdentifier.model_validate(
            {"kind": "bsn", "value": "000000000", "trust": "claimed"}
        )
        for payload in (
            LinkSuggested(
                suggestion_id=suggestion,
                party_id=b.id,
                suggested_party_id=a.id,
                identifier=claimed,
                message_id=uuid.uuid4(),
                at=b.at(),
            ),
            LinkDecided(
                suggestion_id=suggestion,
                party_id=b.id,
                suggested_party_id=a.id,
                confirmed=True,
                by=STAFF,
                reason="klopt",
                at=b.at(),
            ),
        ):
            streams[b.id].append(b.event(payload))
    if draw(st.booleans()):  # b merged into a; b's case folded into a's (b's partition)
        merge_id = uuid.uuid4()
        a.clock = max(a.clock, b.clock)
        streams[a.id].append(
            a.event(
                PartyMerged(
                    merge_id=merge_id,
                    party_id=a.id,
                    merged_party_id=b.id,
                    by=STAFF,
                    reason="zelfde persoon",
                    at=a.at(),
                )
            )
        )
        b.clock = max(a.clock, b.clock)
        into, into_number, _ = cases[a.id]
        folded, _, moved = cases[b.id]
        streams[b.id].append(
            b.event(
                CaseMerged(
                    case_id=folded,
                    into_case_id=into,
                    into_case_number=into_number,
                    party_id=b.id,
                    message_ids=moved,
                    by=STAFF,
                    reason=f"samengevoegd met {into_number}",
                    at=b.at(),
                )
            )
        )
        if draw(st.booleans()):
            streams[a.id].append(
                a.event(
                    PartyUnmerged(
                        merge_id=merge_id,
                        party_id=a.id,
                        merged_party_id=b.id,
                        by=STAFF,
                        reason="toch niet",
                        at=a.at(),
                    )
                )
            )
    return [(draw(st.integers(0, PARTITIONS - 1)), streams[p.id]) for p in parties]


@st.composite
def deliveries(draw: Any) -> dict[str, Any]:
    history = build_history(draw)
    ordered = [e for _, events in history for e in events]
    per_partition: dict[int, list[CloudEvent]] = {}
    for partition in range(PARTITIONS):
        queues = [list(events) for p, events in history if p == partition]
        merged: list[CloudEvent] = []
        while any(queues):  # a random interleaving that keeps each party's order
            q = draw(st.sampled_from([q for q in queues if q]))
            merged.append(q.pop(0))
        for _ in range(draw(st.integers(0, max(0, len(merged) // 3)))):
            i = draw(st.integers(0, len(merged) - 1))
            j = draw(st.integers(i + 1, len(merged)))
            merged.insert(j, merged[i])  # delivered again, later in the same partition
        per_partition[partition] = merged
    return {
        "ordered": ordered,
        "partitions": per_partition,
        "batch": draw(st.integers(1, 25)),
    }


@pytest.fixture(scope="module")
def databases(pg_dsn: str) -> Iterator[tuple[str, str]]:
    async def make() -> tuple[str, str]:
        return (
            await fresh_database(pg_dsn, CASEVIEW_MIGRATIONS, "r10_ref"),
            await fresh_database(pg_dsn, CASEVIEW_MIGRATIONS, "r10_run"),
        )

    yield asyncio.run(make())
    record_history("r10-property", {"examples": len(RUNS), "runs": RUNS[-20:]})


async def _wipe(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(t.name for t in cv.metadata.sorted_tables if t.name != "access_log")
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names}"))
    await engine.dispose()


async def _reference(url: str, ordered: list[CloudEvent]) -> dict[str, list[bytes]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            for e in ordered:
                await project(s, e)
        return await database_rows(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)
    finally:
        await engine.dispose()


async def _delivered(bootstrap: str, url: str, case: dict[str, Any]) -> dict[str, list[bytes]]:
    topic = f"test.r10.{uuid.uuid4().hex[:10]}"
    dlt = f"{topic}.dlt"
    await ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS), TopicSpec(dlt, 1)])
    producer: AIOKafkaProducer = make_producer(bootstrap, "r10")
    await producer.start()
    engine = create_engine(url)
    sessions = session_factory(engine)
    group = f"r10-{uuid.uuid4().hex[:8]}"
    try:
        for partition, events in case["partitions"].items():
            for e in events:
                await producer.send_and_wait(
                    topic, e.to_json(), key=str(e.subject).encode(), partition=partition
                )
        consumer = TransactionalConsumer(
            bootstrap=bootstrap,
            group_id=group,
            topics=[topic],
            sessions=sessions,
            tables=ConsumerTables(offsets=cv.consumer_offsets, processed=cv.processed_events),
            handler=_handle,
            batch_handler=_handle_batch(group),
            dead_letters=DeadLetters(producer, dlt),
            client_id="r10",
            max_records=case["batch"],
        )
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        total = sum(len(v) for v in case["partitions"].values())

        async def consumed() -> bool:
            async with engine.connect() as conn:
                n = await conn.scalar(
                    text(
                        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                        "WHERE consumer_group = :g"
                    ),
                    {"g": group},
                )
            return bool(n == total)

        try:
            await eventually(consumed, timeout=60)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()
        return await database_rows(engine, skip_tables=SKIP_TABLES, skip_columns=SKIP_COLUMNS)
    finally:
        await producer.stop()
        await engine.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=deliveries())
def test_duplicates_and_reorders_do_not_change_the_projection(
    case: dict[str, Any], kafka_bootstrap: str, databases: tuple[str, str]
) -> None:
    ref_url, run_url = databases

    async def run() -> tuple[dict[str, list[bytes]], dict[str, list[bytes]]]:
        await _wipe(ref_url)
        await _wipe(run_url)
        expected = await _reference(ref_url, case["ordered"])
        got = await _delivered(kafka_bootstrap, run_url, case)
        return expected, got

    expected, got = asyncio.run(run())
    diff = rows_diff(expected, got)
    RUNS.append(
        {
            "events": len(case["ordered"]),
            "delivered": sum(len(v) for v in case["partitions"].values()),
            "batch": case["batch"],
            "types": sorted({e.type for e in case["ordered"]}),
            "diff": diff,
        }
    )
    assert not diff, diff
