"""R11: the outbound service killed with SIGKILL again and again while it sends a burst of
e-mail replies to a real Mailpit (issue #17, docs/reliability.md).

The outbound service runs as a process (``python -m services.outbound serve``) on its own
PostgreSQL database and per-run topics; ``DeliverReply`` records go straight onto its
outbound topic, fed at a steady rate so that the burst outlasts the kills. The service
reaches Mailpit through the test's SMTP gate (tests/reliability/smtp_gate.py). Each kill
comes at a random moment of the burst, arms the gate and waits until a send reaches the
armed point, where the gate holds it: kills alternate between *after acceptance* (Mailpit
stored the mail, its ``250`` is held: the window between the provider's acceptance and our
record of it) and *before acceptance* (the ``MAIL FROM`` is held: a reply recorded "sent"
before it went would be lost). The process is restarted each time. A short lease
(``EENLOKET_LEASE_SECONDS``) lets the replies a dead worker held be sent again within the
test's patience. It runs twice: with the worker sending a batch of 20 concurrently, and
one reply at a time (``EENLOKET_WORKER_BATCH=1``), where the issue's "duplicates ≤ N kills"
holds exactly.

Proves, from the test's own list of replies (never the service's tables):

- nothing lost: every reply id has exactly one ``sent`` status on the status topic (by event
  id: the outbox relay may publish a report twice, with the same id) and nothing else (no
  ``failed``), and its Message-ID ``<reply_id@run-domain>`` is in Mailpit at least once;
- duplicates bounded: the copies beyond the first are at most kills x the worker's batch
  (the replies one dead worker can have had in flight), so at most one per kill one at a
  time;
- every copy of a reply (found by the reply's number in its subject, not by its Message-ID)
  carries that reply's Message-ID, and no mail of this run has a Message-ID we did not ask
  for; the dead-letter topic stays empty and the service is ready at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.outbound.bootstrap import MIGRATIONS
from shared.contracts.base import to_cloudevent
from shared.contracts.outbound import (
    DeliverReply,
    ReplyChannel,
    ReplyStatus,
    ReplyStatusReported,
    reply_token,
)
from shared.db.migrations import upgrade
from shared.devstack import ROOT, Service, free_port, wait_ready
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.infra import MailpitAddress
from tests.reliability.conftest import HISTORY_DIR, SCALE, sized
from tests.reliability.harness import KEEP, drop_topics, log, read_records, until
from tests.reliability.smtp_gate import Point, SmtpGate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(1200)]

REPLIES = sized(ci=300, full=2000)
KILLS = sized(ci=3, full=10)
# The burst: replies fed at a steady rate for this long, longer than the kills and restarts
# (about 10 s each on the shared 2-core box) take.
FEED_SECONDS = sized(ci=40, full=200)
# EENLOKET_WORKER_BATCH, the replies one worker round sends concurrently: one run each
BATCHES = {"batch-of-20": 20, "one-at-a-time": 1}
# The kills' points, in turn: the provider has taken the mail (a duplicate may follow) / not.
POINTS = (Point.AFTER_ACCEPT, Point.BEFORE_ACCEPT)
LEASE = 5.0  # EENLOKET_LEASE_SECONDS: a dead worker's replies are due again after this
KILL_WAIT = 30.0  # seconds a kill waits for a send in flight
DRAIN_SECONDS = 120.0
PARTITIONS = 3
SEED = random.randrange(1_000_000)
TOKEN_KEY = b"r11-reply-token-key"
ROUTER = source_urn("00000000000000000000", "eenloket-router")


class Outbound:
    """One outbound process on this run's topics and database, started and killed by pid."""

    def __init__(self, kafka: str, pg_dsn: str, gate: SmtpGate, batch: int) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.kafka = kafka
        self.pg_dsn = pg_dsn
        self.gate = gate
        self.batch = batch
        self.relay_port = 0  # the gate's, once started
        self.domain = f"r11-{self.suffix}.gemeente.example"
        self.topics = {
            name: f"rel.{name.replace('_', '-')}.{self.suffix}"
            for name in ("outbound", "outbound_status", "delivery_reports", "deadletter")
        }
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = HISTORY_DIR / "logs" / self.suffix / "outbound-1.log"

    @property
    def database(self) -> str:
        return f"rel_{self.suffix}_outbound"

    @property
    def dsn(self) -> str:
        return f"{self.pg_dsn}/{self.database}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def prepare(self) -> None:
        await ensure_topics(
            self.kafka,
            [
                TopicSpec(t, 1 if name == "deadletter" else PARTITIONS)
                for name, t in self.topics.items()
            ],
        )
        conn = await asyncpg.connect(f"{self.pg_dsn}/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        url = self.pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        await asyncio.to_thread(upgrade, MIGRATIONS, f"{url}/{self.database}")

    def env(self) -> dict[str, str]:
        return {
            "EENLOKET_ENVIRONMENT": "test",
            "EENLOKET_LOG_LEVEL": os.environ.get("EENLOKET_RELIABILITY_LOG_LEVEL", "WARNING"),
            "EENLOKET_KAFKA_BOOTSTRAP": self.kafka,
            "EENLOKET_DATABASE_URL": self.dsn.replace("postgresql://", "postgresql+asyncpg://"),
            "EENLOKET_CONSUMER_GROUP": f"rel-outbound-{self.suffix}",
            "EENLOKET_HTTP_PORT": str(self.port),
            **{f"EENLOKET_TOPIC_{name.upper()}": t for name, t in self.topics.items()},
            "EENLOKET_TOPIC_PARTITIONS": str(PARTITIONS),
            "EENLOKET_RELAY_HOST": "127.0.0.1",
            "EENLOKET_RELAY_PORT": str(self.relay_port),
            "EENLOKET_RELAY_STARTTLS": "off",
            "EENLOKET_RELAY_TIMEOUT_SECONDS": "4",
            "EENLOKET_RELAY_FROM_ADDRESS": f"noreply@{self.domain}",
            "EENLOKET_RELAY_MAIL_DOMAIN": self.domain,
            "EENLOKET_WORKER_BATCH": str(self.batch),
            "EENLOKET_WORKER_POLL_SECONDS": "0.1",
            "EENLOKET_LEASE_SECONDS": str(LEASE),
            "EENLOKET_SEND_TIMEOUT_SECONDS": str(LEASE - 1),
            "EENLOKET_BACKOFF_BASE_SECONDS": "0.2",
            "EENLOKET_BACKOFF_MAX_SECONDS": "1",
        }

    def spawn(self) -> subprocess.Popen[bytes]:
        assert self.process is None or self.process.poll() is not None
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.outbound", "serve"],
                cwd=ROOT,
                env={**os.environ, **self.env()},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        return self.process

    async def start(self) -> None:
        service = Service("outbound-1", self.url, self.spawn(), self.log)
        await asyncio.to_thread(wait_ready, service, 120.0)

    async def kill_at(self, point: Point, timeout: float) -> dict[str, Any]:
        """``kill -9`` once a send is held at ``point`` by the gate; after ``timeout`` s it is
        killed anyway (and the fault says it did not land mid-send)."""
        assert self.process is not None
        pid = self.process.pid
        started = time.monotonic()
        self.gate.arm(point)
        try:
            await asyncio.wait_for(self.gate.caught.wait(), timeout)
            mid_send = True
        except TimeoutError:
            mid_send = False
        self.gate.armed = None
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)
        waited = round(time.monotonic() - started, 2)
        return {"pid": pid, "point": point.value, "mid_send": mid_send, "waited": waited}

    async def ready(self) -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            try:
                return (await http.get(f"{self.url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)

    async def drop(self) -> list[str]:
        """Delete the topics and drop the database; what failed, as text (never raised)."""
        if KEEP:
            return []
        errors = []
        try:
            await drop_topics(self.kafka, list(self.topics.values()))
        except Exception as exc:
            errors.append(f"topics: {type(exc).__name__}: {exc}")
        try:
            conn = await asyncpg.connect(f"{self.pg_dsn}/postgres", timeout=10)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await conn.close()
        except Exception as exc:
            errors.append(f"database: {type(exc).__name__}: {exc}")
        return errors


def requests_for(run: Outbound) -> list[DeliverReply]:
    """The run's replies: the n-th one's subject carries n, its recipient is of the run."""
    out = []
    for n in range(REPLIES):
        reply_id = uuid.uuid4()
        out.append(
            DeliverReply(
                reply_id=reply_id,
                case_id=uuid.uuid4(),
                case_number=f"2026-{n:06d}",
                party_id=uuid.uuid4(),
                channel=ReplyChannel.EMAIL,
                address=f"inwoner-{n}@{run.domain}",
                subject=f"Antwoord {run.suffix} nr {n}",
                text="Beste inwoner, de container wordt morgen geleegd.",
                attachments=[],
                token=reply_token(TOKEN_KEY, reply_id),
                requested_at=datetime.now(UTC),
            )
        )
    return out


async def feed(producer: AIOKafkaProducer, topic: str, replies: list[DeliverReply]) -> None:
    """The replies onto the outbound topic at a steady rate over ``FEED_SECONDS``."""
    chunk = 10
    pause = FEED_SECONDS / (len(replies) / chunk)
    for start in range(0, len(replies), chunk):
        sends = [
            await producer.send(
                topic,
                to_cloudevent(r, source=ROUTER, subject=r.reply_id).to_json(),
                key=str(r.reply_id).encode(),
            )
            for r in replies[start : start + chunk]
        ]
        await asyncio.gather(*sends)
        await asyncio.sleep(pause)


async def mails_of(mailpit: MailpitAddress, marker: str) -> list[dict[str, Any]]:
    """Every message summary in Mailpit whose subject holds ``marker`` (this run's)."""
    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=mailpit.http, timeout=30) as http:
        while True:
            response = await http.get(
                "/api/v1/search",
                params={"query": f'subject:"{marker}"', "start": len(found), "limit": 500},
            )
            response.raise_for_status()
            page = response.json()
            found += page["messages"]
            if not page["messages"] or len(found) >= page["messages_count"]:
                return found


def ledger(
    run: Outbound,
    replies: list[DeliverReply],
    statuses: list[ReplyStatusReported | str],
    mails: list[dict[str, Any]],
) -> dict[str, Any]:
    """Lost, doubled and foreign mail, from the test's own list of replies."""
    expected = {r.reply_id: f"{r.reply_id}@{run.domain}" for r in replies}
    by_number = {n: r.reply_id for n, r in enumerate(replies)}
    final: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    unreadable = [s for s in statuses if isinstance(s, str)]
    for s in statuses:
        if isinstance(s, ReplyStatusReported):
            final[s.reply_id][s.status.value] += 1
    copies: Counter[str] = Counter()
    wrong_message_id: list[dict[str, Any]] = []
    for mail in mails:
        message_id = str(mail.get("MessageID", "")).strip("<>")
        copies[message_id] += 1
        n = int(str(mail["Subject"]).rsplit(" ", 1)[1])
        if expected.get(by_number.get(n, uuid.UUID(int=0))) != message_id:
            wrong_message_id.append({"subject_number": n, "message_id": message_id})
    asked = set(expected.values())
    extra = {m: c - 1 for m, c in copies.items() if m in asked and c > 1}
    return {
        "replies": len(replies),
        "mails": len(mails),
        "lost_in_mailpit": sorted(str(r) for r, m in expected.items() if copies[m] == 0),
        "not_sent_once": sorted(str(r) for r in expected if final[r] != Counter(sent=1)),
        "other_statuses": dict(
            Counter(st for c in final.values() for st in c if st != ReplyStatus.SENT.value)
        ),
        "unreadable_statuses": len(unreadable),
        "unknown_replies_on_status_topic": len(set(final) - set(expected)),
        "duplicates": sum(extra.values()),
        "replies_duplicated": len(extra),
        "max_copies": max(copies.values(), default=0),
        "wrong_message_id": wrong_message_id[:20],
        "foreign_message_ids": sorted(set(copies) - asked)[:20],
    }


async def statuses_on(kafka: str, topic: str) -> list[ReplyStatusReported | str]:
    """The first copy of each event id on the status topic (a relay's resend has the same id)."""
    seen: set[uuid.UUID] = set()
    out: list[ReplyStatusReported | str] = []
    for record in await read_records(kafka, topic):
        try:
            event = CloudEvent.from_json(record.value or b"")
        except ValueError as exc:
            out.append(f"{type(exc).__name__}")
            continue
        if event.id in seen:
            continue
        seen.add(event.id)
        out.append(ReplyStatusReported.model_validate(event.data))
    return out


async def drained(run: Outbound, total: int) -> bool:
    """Every reply final in the service's table and every status published."""
    conn = await asyncpg.connect(run.dsn, timeout=10)
    try:
        pending = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE status IN ('requested', 'sending')"
        )
        rows = await conn.fetchval("SELECT count(*) FROM deliveries")
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    return bool(rows == total and pending == 0 and unpublished == 0)


async def resent(run: Outbound) -> int:
    """Replies claimed more than once: a dead worker's claim ran out and was sent again (a
    duplicate in Mailpit only if the provider had taken the first attempt)."""
    conn = await asyncpg.connect(run.dsn, timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM deliveries WHERE attempts > 1"))
    finally:
        await conn.close()


@pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
async def test_r11_outbound_killed_mid_send_loses_no_reply(
    kafka_bootstrap: str, pg_dsn: str, mailpit: MailpitAddress, batch: int
) -> None:
    gate = SmtpGate(mailpit.smtp_host, mailpit.smtp_port)
    run = Outbound(kafka_bootstrap, pg_dsn, gate, batch)
    rng = random.Random(SEED)
    replies = requests_for(run)
    faults: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    timings: dict[str, float] = {}
    producer = make_producer(kafka_bootstrap, "r11-feed")
    await producer.start()
    try:
        run.relay_port = await gate.start()
        await run.prepare()
        await run.start()
        began = time.monotonic()
        feeding = asyncio.create_task(feed(producer, run.topics["outbound"], replies))
        # Random moments of the burst, in order; a kill waits for the previous restart.
        moments = sorted(rng.uniform(0.1, 0.85) * FEED_SECONDS for _ in range(KILLS))
        for n, moment in enumerate(moments):
            await asyncio.sleep(max(0.0, began + moment - time.monotonic()))  # fault pacing
            fault = {"n": n + 1, "at": round(time.monotonic() - began, 2)}
            fault |= await run.kill_at(POINTS[n % len(POINTS)], KILL_WAIT)
            await run.start()
            fault["ready_after"] = round(time.monotonic() - began - fault["at"], 2)
            faults.append(fault)
            log(f"R11: kill {n + 1}/{KILLS}: {fault}")
        await feeding
        timings["fed"] = time.monotonic() - began
        timings["drain"] = await until(
            lambda: drained(run, REPLIES), timeout=DRAIN_SECONDS, what="every reply final"
        )
        statuses = await statuses_on(kafka_bootstrap, run.topics["outbound_status"])
        mails = await mails_of(mailpit, run.suffix)
        report = ledger(run, replies, statuses, mails)
        report["dead_letters"] = len(await read_records(kafka_bootstrap, run.topics["deadletter"]))
        report["resent_after_lease"] = await resent(run)
        report["ready_at_end"] = await run.ready()
    finally:
        await producer.stop()
        await run.stop()
        await gate.stop()
        cleanup = await run.drop()
        HISTORY_DIR.mkdir(parents=True, exist_ok=True)
        history = HISTORY_DIR / f"r11-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{run.suffix}.json"
        history.write_text(
            json.dumps(
                {
                    "test": "r11",
                    "scale": SCALE,
                    "batch": batch,
                    "seed": SEED,
                    "suffix": run.suffix,
                    "topics": run.topics,
                    "database": run.database,
                    "log": str(run.log),
                    "starts": run.starts,
                    "faults": faults,
                    "timings": {k: round(v, 1) for k, v in timings.items()},
                    "report": report,
                    "reply_ids": [str(r.reply_id) for r in replies],
                    "cleanup_errors": cleanup,
                },
                indent=1,
            )
        )

    bound = len(faults) * batch
    print(
        f"R11 ledger (seed {SEED}, batch {batch}): replies {report['replies']}, "
        f"kills {len(faults)} (mid-send {sum(f['mid_send'] for f in faults)}), lost "
        f"{len(report['lost_in_mailpit'])}, not sent once {len(report['not_sent_once'])}, "
        f"duplicates {report['duplicates']} (bound {bound}) over "
        f"{report['replies_duplicated']} replies, max copies {report['max_copies']}, re-sent "
        f"after a lease {report['resent_after_lease']}, mails "
        f"{report['mails']}, drain {timings['drain']:.1f} s; history {history}"
    )
    assert len(faults) == KILLS
    assert all(f["mid_send"] for f in faults), faults
    assert report["lost_in_mailpit"] == [], report["lost_in_mailpit"][:20]
    assert report["not_sent_once"] == [], report["not_sent_once"][:20]
    assert report["other_statuses"] == {}
    assert report["unreadable_statuses"] == 0 and report["unknown_replies_on_status_topic"] == 0
    assert report["duplicates"] <= bound
    assert report["wrong_message_id"] == [] and report["foreign_message_ids"] == []
    assert report["dead_letters"] == 0
    assert report["ready_at_end"]
    assert cleanup == []
