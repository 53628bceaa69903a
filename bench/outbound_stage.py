"""Outbound stage (#17): e-mails sent per second by one outbound process into Mailpit, and the
latency from a send request to its ``sent`` status at a fixed arrival rate.

One outbound process (``python -m services.outbound serve``, as in production) on a fresh
PostgreSQL database and fresh topics; its relay is a Mailpit started here through
``deploy/local/mailpit.sh`` (plain SMTP on loopback, every mail kept).

- **throughput**: ``count`` ``DeliverReply`` e-mail records (as the router writes them, key:
  reply id) are on ``omni.outbound.v1`` before the process starts; measured from its
  readiness until the ``deliveries`` table holds every reply as ``sent`` (polled every
  50 ms), then Mailpit is asked how many mails it holds (it must be ``count``). CPU is the
  outbound process's user + system time over that window, per mail.
- **latency**: open loop, the same process afterwards: one ``DeliverReply`` every
  1/``rate`` s for ``seconds``, each stamped with its scheduled send time (no coordinated
  omission: a late generator does not move the clock). A reply's latency ends when its
  ``ReplyStatusReported(sent)`` arrives on ``omni.outbound-status.v1`` (what the router
  sees; read by a consumer here, so it includes the outbox relay); the event's own ``at``
  (the worker's clock when it recorded the send, before its commit) gives a second figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import procstat
from bench.e2e_stage import percentile
from bench.infra import BENCH, migrated_database, plain
from bench.router_stage import produce_all, profiler
from services.outbound.bootstrap import MIGRATIONS
from shared.contracts import to_cloudevent
from shared.contracts.outbound import DeliverReply, ReplyChannel, reply_token
from shared.devstack import ROOT, run_services
from shared.envelope import source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics

SOURCE = source_urn("00000000000000000000", "eenloket-router")
TOKEN_KEY = b"bench-reply-token-key"
PARTITIONS = 12
POLL_SECONDS = 0.05
TEXT = (
    "Beste inwoner,\n\nDank voor uw bericht over de container. De gemeente leegt hem morgen "
    "tussen 7.00 en 16.00 uur. Zet hem voor 7.00 uur aan de straat.\n\nMet vriendelijke "
    "groet,\nTeam Afval\n"
)


@dataclass
class OutboundResult:
    mails: int
    seconds: float  # ready -> every delivery "sent" in the outbound database
    cpu_seconds: float  # the outbound process over that window
    mailpit_cpu_seconds: float
    in_mailpit: int
    rate: int
    offered: int
    latency_sent: int  # replies whose "sent" status arrived
    p50_ms: float  # scheduled produce -> "sent" status on the status topic
    p99_ms: float
    max_ms: float
    at_p50_ms: float  # scheduled produce -> the status event's ``at``
    at_p99_ms: float
    load_average: float

    @property
    def mails_per_second(self) -> float:
        return self.mails / self.seconds

    @property
    def cpu_us_per_mail(self) -> float:
        return self.cpu_seconds / self.mails * 1e6


def request(n: int) -> DeliverReply:
    """A reply to a resident's e-mail, as the router makes it (threaded, with a token)."""
    reply_id = uuid.uuid4()
    return DeliverReply(
        reply_id=reply_id,
        case_id=uuid.uuid4(),
        case_number=f"2026-{n:06d}",
        party_id=uuid.uuid4(),
        channel=ReplyChannel.EMAIL,
        address=f"inwoner{n}@example.org",
        display_name="Inwoner",
        subject="Uw vraag over de container",
        text=TEXT,
        attachments=[],
        in_reply_to=f"{uuid.uuid4().hex}@mail.example.org",
        references=[f"{uuid.uuid4().hex}@mail.example.org"],
        token=reply_token(TOKEN_KEY, reply_id),
        requested_at=datetime.now(UTC),
    )


def _value(r: DeliverReply) -> bytes:
    event = to_cloudevent(r, source=SOURCE, subject=r.reply_id, event_id=r.reply_id)
    return event.to_json()


def _mailpit(command: str, folder: Path) -> dict[str, str]:
    out = subprocess.run(  # noqa: S603
        ["bash", "deploy/local/mailpit.sh", command, "--dir", str(folder)],  # noqa: S607
        cwd=ROOT,
        check=command == "start",
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)


async def _status_consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    return consumer


async def _open_loop(
    bootstrap: str, topics: dict[str, str], *, rate: int, seconds: float, drain: float
) -> tuple[list[float], list[float], int]:
    """(latencies to arrival on the status topic, latencies to ``at``, offered), in ms."""
    consumer = await _status_consumer(bootstrap, topics["EENLOKET_TOPIC_OUTBOUND_STATUS"])
    producer = make_producer(bootstrap, "bench-outbound-load")
    await producer.start()
    scheduled: dict[str, float] = {}
    arrived: dict[str, float] = {}
    stamped: dict[str, float] = {}
    count = int(rate * seconds)
    all_sent = asyncio.Event()

    async def read() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for rec in records:
                    event = json.loads(rec.value or b"{}")
                    data = event.get("data", {})
                    rid = data.get("reply_id")
                    if data.get("status") == "sent" and rid in scheduled:
                        arrived.setdefault(rid, now)
                        at = datetime.fromisoformat(data["at"]).timestamp()
                        stamped.setdefault(rid, at)
            if len(arrived) == count:
                all_sent.set()

    reader = asyncio.create_task(read())
    try:
        start = time.time() + 0.2
        for n in range(count):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.time()))
            r = request(n)
            scheduled[str(r.reply_id)] = due
            await producer.send(
                topics["EENLOKET_TOPIC_OUTBOUND"], _value(r), key=str(r.reply_id).encode()
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_sent.wait(), timeout=drain)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
    late = sorted((arrived[r] - scheduled[r]) * 1000 for r in arrived)
    at = sorted((stamped[r] - scheduled[r]) * 1000 for r in stamped)
    return late, at, count


def _records(count: int) -> Iterator[tuple[bytes, bytes]]:
    for n in range(count):
        r = request(n)
        yield str(r.reply_id).encode(), _value(r)


async def run(
    bootstrap: str,
    database_url: str,
    *,
    count: int,
    rate: int,
    seconds: float,
    logs: Path = BENCH / "logs",
    workdir: Path = BENCH / "outbound",
    profile: Path | None = None,
) -> OutboundResult:
    """One run; ``profile``: py-spy's raw samples of the outbound process over the throughput
    part (for a flame graph)."""
    suffix = uuid.uuid4().hex[:6]
    topics = {
        "EENLOKET_TOPIC_OUTBOUND": f"bench.outbound.{suffix}",
        "EENLOKET_TOPIC_OUTBOUND_STATUS": f"bench.outbound-status.{suffix}",
        "EENLOKET_TOPIC_DELIVERY_REPORTS": f"bench.delivery-reports.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
    }
    await ensure_topics(
        bootstrap,
        [TopicSpec(t, 1 if "deadletter" in t else PARTITIONS) for t in topics.values()],
    )
    await produce_all(bootstrap, topics["EENLOKET_TOPIC_OUTBOUND"], _records(count))
    folder = workdir / "mailpit"
    _mailpit("stop", folder)  # a leftover of an interrupted run: its mails would count
    for stale in folder.glob("mailpit.db*"):
        stale.unlink()
    mailpit = _mailpit("start", folder)
    host, port = mailpit["MAILPIT_SMTP"].rsplit(":", 1)
    mailpit_pid = int((folder / "mailpit.pid").read_text())
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-outbound-{suffix}",
        "EENLOKET_LOG_LEVEL": "WARNING",
        "EENLOKET_RELAY_HOST": host,
        "EENLOKET_RELAY_PORT": port,
        "EENLOKET_RELAY_STARTTLS": "off",
        **topics,
    }
    conn = await asyncpg.connect(plain(database_url))
    try:
        with run_services({"outbound": env}, logs / "outbound") as services:
            pid = services["outbound"].process.pid
            began = time.perf_counter()
            cpu0, mp0 = procstat.cpu_seconds(pid), procstat.cpu_seconds(mailpit_pid)
            spy = profiler(pid, profile) if profile else None
            while await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'") < (
                count
            ):
                if services["outbound"].process.poll() is not None:
                    raise RuntimeError(f"outbound died:\n{services['outbound'].tail()}")
                await asyncio.sleep(POLL_SECONDS)
            elapsed = time.perf_counter() - began
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
            cpu = procstat.cpu_seconds(pid) - cpu0
            mailpit_cpu = procstat.cpu_seconds(mailpit_pid) - mp0
            load = os.getloadavg()[0]
            async with httpx.AsyncClient(base_url=mailpit["MAILPIT_HTTP"]) as http:
                stored = (await http.get("/api/v1/messages", params={"limit": 1})).json()
            late, at, offered = await _open_loop(
                bootstrap, topics, rate=rate, seconds=seconds, drain=15
            )
    finally:
        await conn.close()
        _mailpit("stop", folder)
    return OutboundResult(
        mails=count,
        seconds=elapsed,
        cpu_seconds=cpu,
        mailpit_cpu_seconds=mailpit_cpu,
        in_mailpit=int(stored["total"]),
        rate=rate,
        offered=offered,
        latency_sent=len(late),
        p50_ms=percentile(late, 0.5),
        p99_ms=percentile(late, 0.99),
        max_ms=late[-1] if late else float("nan"),
        at_p50_ms=percentile(at, 0.5),
        at_p99_ms=percentile(at, 0.99),
        load_average=load,
    )


def summary(r: OutboundResult) -> str:
    return (
        f"outbound: {r.mails:,} e-mails in {r.seconds:.1f}s -> {r.mails_per_second:,.0f}/s "
        f"({r.in_mailpit:,} in Mailpit; outbound CPU {r.cpu_us_per_mail:,.0f} us/mail, Mailpit "
        f"{r.mailpit_cpu_seconds / r.mails * 1e6:,.0f} us/mail; load {r.load_average:.2f}); at "
        f"{r.rate}/s: {r.latency_sent}/{r.offered} sent, p50 {r.p50_ms:.0f} ms, p99 "
        f"{r.p99_ms:.0f} ms, max {r.max_ms:.0f} ms to the status topic (to the event's at: "
        f"p50 {r.at_p50_ms:.0f} ms, p99 {r.at_p99_ms:.0f} ms)"
    )


async def _main() -> None:
    """``python -m bench.outbound_stage``: the stage alone on Kafka and PostgreSQL already
    running (``EENLOKET_TEST_KAFKA_BOOTSTRAP``, ``EENLOKET_TEST_PG_DSN``)."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--bootstrap", default=os.environ.get("EENLOKET_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--dsn", default=os.environ.get("EENLOKET_TEST_PG_DSN"))
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--profile", type=Path, help="py-spy raw output (throughput part)")
    args = parser.parse_args()
    url = await migrated_database(args.dsn, f"eenloket_bench_outbound_{os.getpid()}", MIGRATIONS)
    r = await run(
        args.bootstrap,
        url,
        count=args.mails,
        rate=args.rate,
        seconds=args.seconds,
        profile=args.profile,
    )
    print(summary(r), flush=True)


if __name__ == "__main__":
    asyncio.run(_main())
