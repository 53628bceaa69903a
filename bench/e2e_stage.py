"""End to end: ingest -> Kafka -> router -> outbox -> Kafka -> caseview, the three services as
real processes, under an open-loop load at fixed arrival rates.

Per message, by its id: acceptance is the moment the generator received ingest's 202
(vegeta's request start + its latency; the 202 body carries the message id);
visibility is the first poll of caseview's ``timeline_entries`` that returned the
row of that message id. The poller reads new rows with ``position > last`` every
10 ms: positions are commit-ordered in caseview (its feed lock), so no committed
row is skipped. A message's visibility time is the poll's return time, so a latency
is late by at most one poll interval plus the query's own time (both recorded).

Rates go up until one fails (p99 >= 1 s, errors, or messages not visible by the end
of the drain window); nothing in the services is changed or instrumented for this.
"""

from __future__ import annotations

import asyncio
import math
import resource
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import loadgen, procstat
from bench.infra import migrated_database, plain
from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.engine import POSTGRES_SERVER_SETTINGS
from shared.devstack import Service, run_services

P99_LIMIT_MS = 1000.0
POLL_SECONDS = 0.01
PARTITIONS = 12
MIN_RATE = 25


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))]


@dataclass
class Poller:
    """First-seen wall time of each message id in caseview's timeline table."""

    conn: asyncpg.Connection
    seen: dict[str, float] = field(default_factory=dict)
    last: int = 0
    polls: int = 0
    query_seconds: float = 0.0

    async def start_at_end(self) -> None:
        self.last = int(
            await self.conn.fetchval("SELECT coalesce(max(position), 0) FROM timeline_entries")
        )

    async def poll_once(self) -> None:
        began = time.time()
        rows = await self.conn.fetch(
            "SELECT position, message_id FROM timeline_entries WHERE position > $1 "
            "ORDER BY position LIMIT 50000",
            self.last,
        )
        now = time.time()
        self.polls += 1
        self.query_seconds += now - began
        for r in rows:
            if r["message_id"] is not None:
                self.seen.setdefault(str(r["message_id"]), now)
        if rows:
            self.last = int(rows[-1]["position"])

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.time()
            await self.poll_once()
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.time() - began)))


@dataclass
class Step:
    """One arrival rate."""

    rate: int
    seconds: float
    sent: int
    accepted: int
    errors: dict[str, int]
    visible: int
    accepted_per_second: float
    visible_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    from_send_p50_ms: float
    from_send_p99_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    drain_seconds: float
    visible_before_202: int
    generator_cpu_cores: float
    bench_process_cpu_cores: float
    service_cpu_cores: dict[str, float]
    poll_interval_ms: float
    poll_query_ms: float
    passed: bool
    # Per second of the run (by acceptance time): [second, accepted, p50, p99, max] in ms.
    timeline: list[list[float]]

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "timeline"}
        # Infinity (a message never seen) is not JSON: None.
        return {
            k: (round(v, 2) if math.isfinite(v) else None) if isinstance(v, float) else v
            for k, v in out.items()
        }


def _per_second(start: float, pairs: list[tuple[float, float]]) -> list[list[float]]:
    buckets: dict[int, list[float]] = {}
    for accepted_at, latency in pairs:
        buckets.setdefault(int(accepted_at - start), []).append(latency)
    rows = []
    for second in sorted(buckets):
        values = sorted(buckets[second])
        rows.append(
            [
                second,
                len(values),
                round(percentile(values, 0.5), 1),
                round(percentile(values, 0.99), 1),
                round(values[-1], 1),
            ]
        )
    return rows


def _cpu(services: dict[str, list[Service]]) -> dict[str, float]:
    return {
        name: sum(procstat.cpu_seconds(s.process.pid) for s in group)
        for name, group in services.items()
    }


async def _step(
    rate: int,
    seconds: float,
    *,
    url: str,
    senders: list[loadgen.Sender],
    poller: Poller,
    services: dict[str, list[Service]],
    workdir: Path,
    drain_timeout: float,
) -> Step:
    targets = workdir / f"targets-{rate}.jsonl"
    await asyncio.to_thread(
        loadgen.write_targets, targets, url, int(rate * seconds * 1.05) + 100, senders, rate
    )
    await poller.start_at_end()
    polls, query = poller.polls, poller.query_seconds
    stop = asyncio.Event()
    polling = asyncio.create_task(poller.run(stop))
    cpu_before = _cpu(services)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    attack = await asyncio.to_thread(
        loadgen.attack, targets, rate, seconds, workdir / f"results-{rate}.bin"
    )
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_after = _cpu(services)
    sent = await asyncio.to_thread(loadgen.read_results, attack.results)
    for done in (targets, attack.results):  # tens of MB each at the higher rates
        await asyncio.to_thread(done.unlink)
    ended = time.time()
    deadline = ended + drain_timeout
    pending = set(sent.accepted)
    while time.time() < deadline:
        pending -= poller.seen.keys()
        if not pending:
            break
        await asyncio.sleep(0.2)
    drained = time.time()
    stop.set()
    await polling
    # A row can be visible before its 202 reached the generator (a slow answer): latency 0.
    raw = [
        (at, (poller.seen[m] - at) * 1000) for m, at in sent.accepted.items() if m in poller.seen
    ]
    pairs = [(at, max(0.0, ms)) for at, ms in raw]
    early = sum(1 for _, ms in raw if ms < 0)
    latencies = sorted(p[1] for p in pairs)
    missing = len(sent.accepted) - len(latencies)
    # A message never seen counts as slower than any seen one.
    ranked = latencies + [float("inf")] * missing
    p99 = percentile(ranked, 0.99)
    visible_span = (
        (
            max(poller.seen[m] for m, _ in sent.accepted.items() if m in poller.seen)
            - attack.started_at
        )
        if latencies
        else float("nan")
    )
    ack = sorted(sent.ack_latencies_ms)
    # The same from the moment the request went out (what the sender lives through).
    from_send = sorted(
        (t - sent.submitted[m]) * 1000 for m, t in poller.seen.items() if m in sent.submitted
    )
    from_send += [float("inf")] * missing
    error_count = sum(sent.errors.values())
    n_polls = max(1, poller.polls - polls)
    return Step(
        rate=rate,
        seconds=round(attack.seconds, 2),
        sent=sent.sent,
        accepted=len(sent.accepted),
        errors=sent.errors,
        visible=len(latencies),
        accepted_per_second=len(sent.accepted) / attack.seconds,
        visible_per_second=len(latencies) / visible_span if latencies else 0.0,
        p50_ms=percentile(ranked, 0.5),
        p95_ms=percentile(ranked, 0.95),
        p99_ms=p99,
        max_ms=ranked[-1] if ranked else float("nan"),
        from_send_p50_ms=percentile(from_send, 0.5),
        from_send_p99_ms=percentile(from_send, 0.99),
        ack_p50_ms=percentile(ack, 0.5),
        ack_p99_ms=percentile(ack, 0.99),
        drain_seconds=drained - ended,
        visible_before_202=early,
        generator_cpu_cores=attack.cpu_seconds / attack.seconds,
        bench_process_cpu_cores=(
            self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime
        )
        / attack.seconds,
        service_cpu_cores={
            k: round((cpu_after[k] - cpu_before[k]) / attack.seconds, 2) for k in cpu_after
        },
        poll_interval_ms=(drained - attack.started_at) / n_polls * 1000,
        poll_query_ms=(poller.query_seconds - query) / n_polls * 1000,
        passed=(
            p99 < P99_LIMIT_MS
            and missing == 0
            and error_count <= 0.001 * sent.sent
            and len(sent.accepted) >= 0.98 * rate * seconds
        ),
        timeline=_per_second(attack.started_at, pairs),
    )


def refine(steps: list[Step]) -> int | None:
    """The next rate to try between the highest that passed and the lowest above it that
    failed (half the lowest failure when none passed), in steps of 25 /s; None when the
    bracket is already within 20 % (or 25 /s), or nothing failed."""
    low = max((s.rate for s in steps if s.passed), default=0)
    failed = [s.rate for s in steps if not s.passed and s.rate > low]
    if not failed:
        return None
    high = min(failed)
    if low == 0:
        rate = high // 2 // MIN_RATE * MIN_RATE
        return rate if rate >= MIN_RATE else None
    if high - low <= max(MIN_RATE, 0.2 * low):
        return None
    rate = round((low + high) / 2 / MIN_RATE) * MIN_RATE
    return rate if low < rate < high else None


async def record_sizes(
    bootstrap: str, topics: dict[str, str], sample: int = 2000
) -> dict[str, int]:
    """Median serialized size (bytes) of the records the services really wrote."""
    out = {}
    for name, topic in topics.items():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            sizes: list[int] = []
            deadline = time.monotonic() + 10
            while len(sizes) < sample and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                sizes += [len(r.value or b"") for rs in batches.values() for r in rs]
            out[name] = round(statistics.median(sizes)) if sizes else 0
        finally:
            await consumer.stop()
    return out


async def run(
    bootstrap: str,
    dsn: str,
    *,
    rates: list[int],
    seconds: float,
    drain_timeout: float,
    senders: int,
    logs: Path,
    workdir: Path,
    deadline: float = float("inf"),
) -> dict[str, Any]:
    """Rates in turn until one fails, or until the next would end after ``deadline``
    (``time.monotonic()``), on one stack of fresh databases and topics."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:6]
    urls = {
        "ingest": await migrated_database(dsn, "eenloket_bench_e2e_ingest", INGEST_MIGRATIONS),
        "router": await migrated_database(dsn, "eenloket_bench_e2e_router", ROUTER_MIGRATIONS),
        "caseview": await migrated_database(
            dsn, "eenloket_bench_e2e_caseview", CASEVIEW_MIGRATIONS
        ),
    }
    topics = {
        "EENLOKET_TOPIC_INBOUND": f"bench.e2e.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"bench.e2e.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.e2e.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.e2e.deadletter.{suffix}",
    }
    env = {
        name: {
            "EENLOKET_ENVIRONMENT": "test",
            "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
            "EENLOKET_DATABASE_URL": url,
            "EENLOKET_CONSUMER_GROUP": f"bench-e2e-{name}-{suffix}",
            "EENLOKET_TOPIC_PARTITIONS": str(PARTITIONS),
            "EENLOKET_LOG_LEVEL": "WARNING",
            **topics,
        }
        for name, url in urls.items()
    }
    people = loadgen.population(senders)
    steps: list[Step] = []
    stopped = ""
    # The services' own setting (shared/db/engine.py): a generic plan made while the table
    # was empty would make the poller scan it.
    conn = await asyncpg.connect(plain(urls["caseview"]), server_settings=POSTGRES_SERVER_SETTINGS)
    try:
        with run_services(env, logs / "e2e") as started:
            services = {name: [s] for name, s in started.items()}
            poller = Poller(conn)
            url = started["ingest"].url
            # Warm-up (not recorded): connections, first parties, caches.
            await _step(
                50,
                3,
                url=url,
                senders=people,
                poller=poller,
                services=services,
                workdir=workdir,
                drain_timeout=drain_timeout,
            )
            queue, refining = list(rates), False
            while queue:
                rate = queue.pop(0)
                # The first rate always runs: a run without any end-to-end figure is no run.
                if steps and time.monotonic() + seconds + drain_timeout + 15 > deadline:
                    stopped = f"time budget: {rate}/s not run"
                    print(f"  e2e: {stopped}", flush=True)
                    break
                step = await _step(
                    rate,
                    seconds,
                    url=url,
                    senders=people,
                    poller=poller,
                    services=services,
                    workdir=workdir,
                    drain_timeout=drain_timeout,
                )
                steps.append(step)
                print(
                    f"  e2e {rate}/s: accepted {step.accepted_per_second:,.0f}/s, visible "
                    f"{step.visible}/{step.accepted}, p50 {step.p50_ms:,.0f} ms, p99 "
                    f"{step.p99_ms:,.0f} ms, max {step.max_ms:,.0f} ms, errors {step.errors}, "
                    f"vegeta {step.generator_cpu_cores:.2f} cores, services "
                    f"{step.service_cpu_cores} -> {'pass' if step.passed else 'FAIL'}",
                    flush=True,
                )
                if step.passed and queue and not refining:
                    continue  # up the ladder
                if not step.passed:
                    stopped = f"{rate}/s failed"
                # Higher rates only fail more once one failed: refine between the highest
                # rate that held and the lowest that failed instead (or below the first).
                queue = [n for n in [refine(steps)] if n]
                refining = True
            held = [s.rate for s in steps if s.passed]
            failed = [s.rate for s in steps if not s.passed and s.rate > max(held, default=0)]
            bracket = (
                f"{max(held)}/s held, {min(failed)}/s failed"
                if held and failed
                else ("every rate run held" if held else "no rate held")
            )
            stopped = f"{bracket}; {stopped}" if stopped.startswith("time budget") else bracket
            memory = {
                name: round(procstat.peak_rss_mib(s.process.pid), 1) for name, s in started.items()
            }
            sizes = await record_sizes(
                bootstrap,
                {
                    "inbound_bytes": topics["EENLOKET_TOPIC_INBOUND"],
                    "timeline_bytes": topics["EENLOKET_TOPIC_TIMELINE"],
                },
            )
    finally:
        await conn.close()
    passing = [s.rate for s in steps if s.passed]
    return {
        "seconds_per_rate": seconds,
        "senders": senders,
        "generator": "vegeta (Go, compiled), -lazy target list, open loop, keep-alive",
        "mix": dict(loadgen.MIX),
        "poll_interval_ms": POLL_SECONDS * 1000,
        "p99_limit_ms": P99_LIMIT_MS,
        "highest_rate_p99_under_1s": max(passing) if passing else 0,
        "stopped": stopped,
        "peak_rss_mib": memory,
        "record_bytes": sizes,
        "steps": [s.summary() for s in steps],
        "timelines": {str(s.rate): s.timeline for s in steps},
    }
