"""R5 — poison records: 1% malformed among valid ones, on both consumed topics.

Records are written straight onto the inbound topic (consumed by the router) and the
timeline topic (consumed by caseview, which also receives the router's own output),
in random order among valid ones. Kinds of poison, each with a unique marker:

- ``bad-json``: not JSON at all;
- ``wrong-schema``: a valid envelope whose data does not fit the contract;
- ``missing-source`` / ``missing-id``: a CloudEvents REQUIRED attribute left out;
- ``unknown-type``: a type the consumer does not know;
- ``oversized``: a record close to Kafka's 1 MiB default, with a text no channel allows.

Pass: every poison record is on the dead-letter topic, bytes untouched, with
``dlt.reason``, ``dlt.error.type``, ``dlt.error.message`` and its source coordinates
(except caseview's documented forward compatibility: an unknown type on the timeline
is skipped and counted as processed); every valid record is processed; consumer lag
(the committed Kafka offsets) returns to 0; a sentinel sent after everything gets
through (no stall); both services' loops still run.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from services.caseview import orm as cv
from services.router import orm as rt
from shared.contracts import Channel, IdentifierKind, MessageReceived, Trust, to_cloudevent
from shared.envelope import CloudEvent
from shared.kafka.config import make_producer
from tests.conftest import Topics
from tests.integration.caseview.conftest import Party, running, settings_for
from tests.integration.test_router import INGEST, bsn, message
from tests.reliability.conftest import sized
from tests.reliability.inproc import (
    drain,
    engine_for,
    kafka_lag,
    record_history,
    running_router,
)
from tests.support import eventually, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KINDS = (
    "bad-json",
    "wrong-schema",
    "missing-source",
    "missing-id",
    "unknown-type",
    "oversized",
)
OVERSIZED_BYTES = 1_047_000  # just under the producer's and broker's 1 MiB default


def inbound_event(m: Any) -> CloudEvent:
    return to_cloudevent(
        MessageReceived(message=m), source=INGEST, subject=m.message_id, event_id=m.message_id
    )


def poison(kind: str, valid: CloudEvent) -> bytes:
    """A malformed record modelled on a valid event of the same topic."""
    doc = orjson.loads(valid.to_json())
    marker = str(uuid.uuid4())
    doc["id"] = marker
    if kind == "bad-json":
        return b'{"id": "' + marker.encode() + b'", "source": "urn:nld:oin:'
    if kind == "wrong-schema":
        doc["data"] = {"unexpected": marker}
    elif kind == "missing-source":
        del doc["source"]
    elif kind == "missing-id":
        del doc["id"]
        doc["dataschema"] = f"urn:test:{marker}"  # the marker, somewhere
    elif kind == "unknown-type":
        doc["type"] = "nl.eenloket.test.unknown-thing"
    elif kind == "oversized":
        raw = orjson.dumps(doc)
        filler = "x" * (OVERSIZED_BYTES - len(raw))
        if "message" in doc["data"]:
            # A message of its own (ingest's event id is the message id).
            doc["id"] = doc["data"]["message"]["message_id"] = marker
            doc["subject"] = marker
            doc["data"]["message"]["text"] = filler
        else:
            doc["data"]["text"] = filler
    return orjson.dumps(doc)


def mix(valid: list[tuple[bytes, CloudEvent]], bad: int, rng: random.Random) -> list[Any]:
    """Valid records with ``bad`` poison ones at random places (kinds in turn)."""
    out: list[Any] = [("valid", key, e.to_json(), e) for key, e in valid]
    for n in range(bad):
        kind = KINDS[n % len(KINDS)]
        key, model = rng.choice(valid)
        # After the record it copies: a copy must not take the original's place.
        after = next(i for i, item in enumerate(out) if item[3] is model) + 1
        out.insert(rng.randrange(after, len(out) + 1), (kind, key, poison(kind, model), None))
    return out


async def produce(
    producer: AIOKafkaProducer, topic: str, records: list[Any]
) -> dict[tuple[int, int], int]:
    """Send in order; returns (partition, offset) -> index into ``records``."""
    futures = [await producer.send(topic, value, key=key) for _, key, value, _ in records]
    placed = {}
    for n, f in enumerate(futures):
        meta = await f
        placed[(meta.partition, meta.offset)] = n
    return placed


async def test_poison_is_dead_lettered_and_the_rest_flows(
    kafka_bootstrap: str, pg_urls: dict[str, str], topics: Topics
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    n = sized(ci=1000, full=5000)
    bad = n // 100

    # Inbound: residents writing several times (one partition per sender key).
    residents = [bsn() for _ in range(max(10, n // 10))]
    inbound_valid = []
    for _ in range(n - bad):
        number = rng.choice(residents)
        m = message(
            (IdentifierKind.BSN, number, Trust.AUTHENTICATED),
            text="Vraag over afval",
            product="afval",
        )
        inbound_valid.append((number.encode(), inbound_event(m)))
    # Timeline: parties with a case and contacts, as the router would publish them.
    timeline_valid: list[tuple[bytes, CloudEvent]] = []
    while len(timeline_valid) < n - bad:
        p = Party()
        events = [p.created("Poison Test")]
        case_id, number, opened = p.case("afval", "afval")
        events.append(opened)
        events += [p.message(case_id, number, Channel.WEB, "tekst") for _ in range(8)]
        timeline_valid += [(str(p.id).encode(), e) for e in events]
    timeline_valid = timeline_valid[: n - bad]
    inbound = mix(inbound_valid, bad, rng)
    timeline = mix(timeline_valid, bad, rng)

    router = router_settings(kafka_bootstrap, pg_urls["router"], topics, max_batch=200)
    caseview = settings_for(pg_urls["caseview"], kafka_bootstrap, topics, max_batch=200)
    producer = make_producer(kafka_bootstrap, "r5-test", max_request_size=2 * 1024 * 1024)
    await producer.start()
    router_db = engine_for(pg_urls["router"])
    caseview_db = engine_for(pg_urls["caseview"])
    started = datetime.now(UTC)
    try:
        async with running_router(router) as r, running(caseview) as c:
            placed = {
                topics.inbound: await produce(producer, topics.inbound, inbound),
                topics.timeline: await produce(producer, topics.timeline, timeline),
            }
            # A sentinel after all the poison: it must get through.
            sentinel = inbound_event(
                message((IdentifierKind.BSN, bsn(), Trust.AUTHENTICATED), text="Laatste")
            )
            await produce(producer, topics.inbound, [("valid", b"s", sentinel.to_json(), sentinel)])

            inbound_ids = [e.id for _, _, _, e in inbound if e is not None] + [sentinel.id]

            async def router_done() -> bool:
                async with router_db.connect() as conn:
                    applied = await conn.scalar(
                        select(func.count())
                        .select_from(rt.processed_events)
                        .where(
                            rt.processed_events.c.consumer_group == router.consumer_group,
                            rt.processed_events.c.event_id.in_(inbound_ids),
                        )
                    )
                return applied == len(inbound_ids)

            await eventually(router_done, timeout=300, interval=0.5)

            async def caught_up() -> dict[str, dict[int, int]] | None:
                lags = {
                    "router": await kafka_lag(
                        kafka_bootstrap, router.consumer_group, topics.inbound
                    ),
                    "caseview": await kafka_lag(
                        kafka_bootstrap, caseview.consumer_group, topics.timeline
                    ),
                }
                return lags if all(v == 0 for lag in lags.values() for v in lag.values()) else None

            async def outbox_empty() -> bool:
                async with router_db.connect() as conn:
                    left = await conn.scalar(
                        select(func.count())
                        .select_from(rt.outbox)
                        .where(
                            rt.outbox.c.topic == topics.timeline,
                            rt.outbox.c.published_at.is_(None),
                        )
                    )
                return left == 0

            await eventually(outbox_empty, timeout=120, interval=0.5)
            lags = await eventually(caught_up, timeout=300, interval=0.5)
            await r.app.state.readiness["loops"]()  # raises if a loop stopped
            await c.app.state.readiness["loops"]()
        seconds = (datetime.now(UTC) - started).total_seconds()

        # What caseview saw: every decodable timeline record (ours and the router's).
        wire = await drain(kafka_bootstrap, topics.timeline)
        router_output = {
            CloudEvent.from_json(rec.value).id
            for rec in wire
            if (rec.partition, rec.offset) not in placed[topics.timeline]
        }
        unknown = {
            e.id
            for kind, _, value, _ in timeline
            if kind == "unknown-type"
            for e in [CloudEvent.from_json(value)]
        }
        async with caseview_db.connect() as conn:
            processed = set(
                (
                    await conn.scalars(
                        select(cv.processed_events.c.event_id).where(
                            cv.processed_events.c.consumer_group == caseview.consumer_group
                        )
                    )
                ).all()
            )
    finally:
        await producer.stop()
        await router_db.dispose()
        await caseview_db.dispose()

    dead = await drain(kafka_bootstrap, topics.deadletter)
    letters = {}
    strangers: list[dict[str, str]] = []
    for letter in dead:
        headers = {k: v.decode() for k, v in letter.headers}
        source = headers["dlt.source.topic"]
        at = (int(headers["dlt.source.partition"]), int(headers["dlt.source.offset"]))
        if at not in placed[source]:  # not one of ours: the router's output
            strangers.append({**headers, "value": letter.value[:300].decode("utf-8", "replace")})
            continue
        letters[(source, placed[source][at])] = (letter, headers)
    outcome: dict[str, Counter[str]] = {"inbound": Counter(), "timeline": Counter()}
    problems = []
    for topic_name, topic, records in (
        ("inbound", topics.inbound, inbound),
        ("timeline", topics.timeline, timeline),
    ):
        for index, (kind, _, value, _) in enumerate(records):
            found = letters.get((topic, index))
            if kind == "valid":
                if found is not None:
                    problems.append(f"{topic_name}: a valid record was dead-lettered")
                continue
            if found is None:
                outcome[topic_name][f"{kind}: not dead-lettered"] += 1
                # Documented: caseview skips unknown types (forward compatible). Oversized
                # but valid: nothing in the contracts limits a text (see the report).
                if (
                    not (topic_name == "timeline" and kind == "unknown-type")
                    and kind != "oversized"
                ):
                    problems.append(f"{topic_name}/{kind} not dead-lettered")
                continue
            letter, headers = found
            omitted = "dlt.value.omitted-bytes" in headers
            outcome[topic_name][
                f"{kind}: {headers['dlt.reason']}{' (value omitted)' if omitted else ''}"
            ] += 1
            if omitted:
                assert headers["dlt.value.omitted-bytes"] == str(len(value))
            else:
                assert letter.value == value, "bytes untouched"
            assert headers["dlt.error.type"] and headers["dlt.error.message"]
            assert headers["dlt.consumer.group"]
    valid_timeline = {e.id for _, _, _, e in timeline if e is not None}
    history = {
        "seed": seed,
        "records_per_topic": n,
        "poison_per_topic": bad,
        "seconds_until_caught_up": seconds,
        "outcome": {k: dict(v) for k, v in outcome.items()},
        "dead_letters": len(dead),
        "dead_letter_errors": sorted(
            {dict(d.headers)["dlt.error.message"].decode()[:200] for d in dead}
        ),
        "lag": {k: {str(p): v for p, v in lag.items()} for k, lag in lags.items()},
        "caseview_processed": len(processed & (valid_timeline | router_output | unknown)),
        "router_output_events": len(router_output),
        "problems": problems,
        "dead_lettered_router_output": strangers,
    }
    record_history("r5-poison", history)
    assert not strangers, strangers
    assert not problems, history
    assert valid_timeline <= processed, "every valid timeline record was projected"
    assert router_output <= processed, "everything the router published was projected"
    assert unknown <= processed, "an unknown type on the timeline is skipped, not stuck"
    assert len(dead) == len(letters), "one letter per poison record"
