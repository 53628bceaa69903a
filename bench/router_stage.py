"""Router stage: routed messages per second from a pre-filled ``omni.inbound.v1``.

One router process (as in production: `python -m services.router serve`) on
PostgreSQL, against N messages already on the topic. Measures from the moment
the router is ready until every message's offset is stored and every outbox
row is published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench.infra import migrated_database
from bench.procstat import cpu_seconds
from bench.workload import messages
from services.router import orm
from services.router.bootstrap import MIGRATIONS
from shared.contracts import MessageReceived, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.devstack import ROOT, run_services
from shared.envelope import source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics

SOURCE = source_urn("00000000000000000000", "eenloket-ingest")


@dataclass
class RouterResult:
    messages: int
    senders: int
    processes: int
    seconds_to_consume: float
    seconds_to_publish: float
    cpu_seconds: float = 0.0  # user + system CPU of the router processes over the run

    @property
    def routed_per_second(self) -> float:
        return self.messages / self.seconds_to_publish

    @property
    def cpu_us_per_message(self) -> float:
        """Router CPU per routed message: what the box's other load does not move."""
        return self.cpu_seconds / self.messages * 1e6


async def prefill(bootstrap: str, topic: str, count: int, sender_count: int) -> None:
    await ensure_topics(bootstrap, [TopicSpec(topic, 12)])

    def records() -> Iterator[tuple[bytes, bytes]]:
        for m in messages(count, sender_count):
            event = to_cloudevent(
                MessageReceived(message=m),
                source=SOURCE,
                subject=m.message_id,
                event_id=m.message_id,
            )
            yield (m.sender[0].kind + m.sender[0].value).encode(), event.to_json()

    await produce_all(bootstrap, topic, records())


async def produce_all(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    """(key, value) records onto ``topic``, batched (linger 20 ms), all acknowledged."""
    producer = make_producer(bootstrap, "bench-prefill", linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run(
    bootstrap: str,
    database_url: str,
    *,
    count: int,
    sender_count: int,
    processes: int,
    logs: Path,
    profile: Path | None = None,
    progress: list[tuple[float, int]] | None = None,
) -> RouterResult:
    """One run; ``progress`` (if given) gets (seconds, messages consumed) every poll."""
    suffix = uuid.uuid4().hex[:6]
    topics = {
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"bench.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
    }
    await prefill(bootstrap, topics["EENLOKET_TOPIC_INBOUND"], count, sender_count)
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-router-{suffix}",
        "EENLOKET_LOG_LEVEL": "WARNING",
        **topics,
    }
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    # The first process migrates; the others start once it is ready.
    with run_services({"router": env}, logs / "router-0") as first:
        started = time.perf_counter()
        extra = [run_services({"router": env}, logs / f"router-{n}") for n in range(1, processes)]
        pids = [first["router"].process.pid]
        # Each process's CPU counts from the moment it is ready (the first routes while the
        # others start).
        cpu_at_start = cpu_seconds(pids[0])
        for ctx in extra:
            pid = ctx.__enter__()["router"].process.pid
            pids.append(pid)
            cpu_at_start += cpu_seconds(pid)
        spy = profiler(pids[0], profile) if profile else None
        try:
            consumed_at = published_at = None
            while published_at is None:
                async with sessions() as s:
                    consumed = await s.scalar(
                        select(
                            func.coalesce(func.sum(orm.consumer_offsets.c.next_offset), 0)
                        ).where(orm.consumer_offsets.c.topic == topics["EENLOKET_TOPIC_INBOUND"])
                    )
                    # Whether any row waits (the partial index answers), not how many:
                    # counting them every 50 ms took PostgreSQL CPU from the router.
                    pending = await s.scalar(
                        select(
                            select(orm.outbox.c.position)
                            .where(orm.outbox.c.published_at.is_(None))
                            .exists()
                        )
                    )
                if progress is not None:
                    progress.append((round(time.perf_counter() - started, 2), int(consumed or 0)))
                if consumed_at is None and (consumed or 0) >= count:
                    consumed_at = time.perf_counter()
                if consumed_at is not None and not pending:
                    published_at = time.perf_counter()
                await asyncio.sleep(0.05)
            cpu = sum(cpu_seconds(p) for p in pids) - cpu_at_start
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
            for ctx in extra:
                ctx.__exit__(None, None, None)
    await engine.dispose()
    assert consumed_at is not None
    return RouterResult(
        messages=count,
        senders=sender_count,
        processes=processes,
        seconds_to_consume=consumed_at - started,
        seconds_to_publish=published_at - started,
        cpu_seconds=cpu,
    )


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the (first) router process until the run ends (raw, for flame graphs)."""
    return subprocess.Popen(  # noqa: S603 - the venv's own py-spy
        [
            str(ROOT / ".venv" / "bin" / "py-spy"),
            "record",
            "--nonblocking",
            "-f",
            "raw",
            "-r",
            "200",
            "-o",
            str(out),
            "-p",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _main() -> None:
    """``python -m bench.router_stage --bootstrap H:P --dsn postgresql://...``: the router stage
    alone on Kafka and PostgreSQL already running (e.g. a helper's own)."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--bootstrap", default=os.environ.get("EENLOKET_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--dsn", default=os.environ.get("EENLOKET_TEST_PG_DSN"))
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--processes", type=int, action="append")
    parser.add_argument("--logs", type=Path, default=ROOT / ".local" / "bench" / "logs")
    parser.add_argument("--profile", type=Path, help="py-spy raw output of the first process")
    parser.add_argument("--progress", action="store_true", help="consumed count every 0.5 s")
    args = parser.parse_args()
    for processes in args.processes or [1, 2]:
        url = await migrated_database(args.dsn, "eenloket_bench_router", MIGRATIONS)
        progress: list[tuple[float, int]] = []
        r = await run(
            args.bootstrap,
            url,
            count=args.messages,
            sender_count=args.messages // 10,
            processes=processes,
            logs=args.logs,
            profile=args.profile,
            progress=progress,
        )
        print(
            f"router x{processes}: {r.messages} messages in {r.seconds_to_publish:.1f}s -> "
            f"{r.routed_per_second:,.0f} routed/s (consumed in {r.seconds_to_consume:.1f}s); "
            f"router CPU {r.cpu_seconds:.1f}s = "
            f"{r.cpu_us_per_message:.0f} us/message",
            flush=True,
        )
        if args.progress:
            print(" ".join(f"{t}s:{n}" for t, n in progress[::10]), flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
