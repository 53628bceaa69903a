"""Shared machinery of the process-level reliability tests (R1, R2, R6, R7, R8).

- ``Stack``: ingest, N routers and M caseviews as real processes
  (``python -m services.<name> serve``), each with its own environment, on
  per-run topics, consumer groups and databases; killed (``SIGKILL``), stopped,
  paused and restarted by the pid this module started, never by name.
- ``LoadDriver``: unique messages over every channel (web form, e-mail over
  HTTP, e-mail over SMTP, app, chat, phone, counter, letter) from a fixed set of
  senders. Each sender sends its messages one after another, re-sending the same
  message (same idempotency id) after a 503/451 or a broken connection until it
  is acknowledged; every acknowledged message id is recorded in send order.
- ``Ledger``: reads caseview's and the router's databases and the topics after
  a final drain and reports, mechanically (Jepsen's method, docs/reliability.md):
  ``lost`` (acknowledged, never in caseview), ``duplicated`` (one message or
  event applied more than once), missing effects, dead letters, per-party order
  on the timeline topic and in caseview, per-sender order, and redeliveries
  where they are measurable. What it expects comes from the test's own records
  (the acknowledged messages, ``SHOWN_IN_CASEVIEW``), never from the production
  code's tables.
- ``write_history``: the whole run as JSON under ``HISTORY_DIR``.

Every run drops its databases and topics at the end, also when it fails
(``EENLOKET_RELIABILITY_KEEP=1`` keeps them for a post-mortem).

Definitions used by every test:

- A message is *in caseview exactly once* when ``timeline_entries`` holds
  exactly one row with its ``message_id`` (the ``message.routed`` entry), and
  the router's outbox holds exactly one ``message.routed`` event for it.
- *One effect per event id*: every event the router wrote to its outbox (all of
  whose types caseview must show, ``SHOWN_IN_CASEVIEW``) has exactly one row in
  caseview's ``timeline_entries`` — the rows actually written, not the ids
  caseview marked as processed — and every row is an outbox event; every inbound
  event (message id) is in the router's ``processed_events`` and ``contacts``
  once. (The unique constraints make a second row impossible, so a second
  *attempt* would surface as a dead letter: the dead-letter topic must stay
  empty.)
- *Per-party order*, in the order things happened, never sorted first: each
  party's events on the timeline topic (first copies, in offset order of the one
  partition they must all be on) and its rows in caseview (in ``position``
  order, the order the projector applied them) carry ``sequence`` 1, 2, 3, ...
  with no gap and no step back; ``party.created`` comes before anything else of
  its party and a case's ``case.opened`` before any ``message.routed`` of that
  case, in that order and in sequence order (the order caseview shows).
- *Per-sender order*: the messages one sender sent (sequentially, each only
  after the previous one was acknowledged) reach one party, and their
  ``message.routed`` events arrive on the topic, are applied by caseview and are
  numbered in the order they were sent.
- *Alive*: a service's loops run (``/readyz`` answers 200), not merely that its
  process exists.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.migrations import upgrade
from shared.devstack import ROOT, Service, free_port, wait_ready
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.reliability.conftest import HISTORY_DIR, SCALE

MIGRATIONS = {
    "ingest": INGEST_MIGRATIONS,
    "router": ROUTER_MIGRATIONS,
    "caseview": CASEVIEW_MIGRATIONS,
}
MAIL_DOMAIN = "gemeente.example"
# The load's one integration: every channel, allowed to vouch for logins and caller IDs,
# behind a mail gateway whose Authentication-Results count (docs/channels.md "Evidence").
MAIL_GATEWAY = "mx.gemeente.example"
LOAD_KEY = "reliability-load-key"
LOAD_HEADERS = {"X-Api-Key": LOAD_KEY}
LOAD_INTEGRATION = {
    "sha256": hashlib.sha256(LOAD_KEY.encode()).hexdigest(),
    "channels": ["web", "email", "app", "chat", "phone", "counter", "letter"],
    "may_assert_login": True,
    "may_assert_caller_id": True,
    "trusted_authserv_ids": [MAIL_GATEWAY],
}
PARTY_CREATED = "nl.eenloket.party.created"
CASE_OPENED = "nl.eenloket.case.opened"
ROUTED = "nl.eenloket.message.routed"
# What the router makes of the load's messages and what caseview must show of each: this
# test's own list, not the projector's table (a projector that stops showing a type must
# fail here). Any other type in the outbox fails the ledger (``unexpected_event_types``)
# until it is decided here whether caseview must show it.
LINK_SUGGESTED = "nl.eenloket.party.link-suggested"  # a letter's typed address, seen before
SHOWN_IN_CASEVIEW = frozenset({PARTY_CREATED, CASE_OPENED, ROUTED, LINK_SUGGESTED})
CONSUMER_METRICS = {
    "duplicates_skipped": "eenloket_consumer_duplicates_total",
    "batch_retries": "eenloket_consumer_batch_retries_total",
    "dead_letters": "eenloket_dead_letters_total",
}
IN_FLIGHT_METRIC = "eenloket_consumer_batch_in_flight"
KEEP = os.environ.get("EENLOKET_RELIABILITY_KEEP") == "1"  # keep databases and topics


def log(text: str) -> None:
    """Progress on stderr (shown with ``pytest -s`` and in a failure's captured output)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


# --- infrastructure scripts ---------------------------------------------------------------


def local_script(script: str, *args: str, timeout: float = 300) -> str:
    """Run ``deploy/local/<script>``; return its stdout or fail with its output."""
    result = subprocess.run(
        ["bash", f"deploy/local/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start_script(script: str, run_dir: Path, name: str) -> str:
    """``<script> start --dir run_dir`` -> the value it reports as ``name``. Ports are chosen
    free and then bound: on a shared machine another process may take one in between, so a
    start that lost that race is tried again (the script picks new ports)."""
    for attempt in range(3):
        try:
            return last_value(local_script(script, "start", "--dir", str(run_dir)), name)
        except RuntimeError as exc:
            if "already in use" not in str(exc) or attempt == 2:
                raise
            log(f"{script}: a port was taken meanwhile; starting again")
    raise AssertionError("unreachable")


def last_value(output: str, name: str) -> str:
    for line in reversed(output.strip().splitlines()):
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise RuntimeError(f"{name} not reported:\n{output}")


@contextlib.contextmanager
def own_kafka(run_dir: Path) -> Iterator[str]:
    """A broker of this test alone (it will be stopped and restarted on its data and port)."""
    bootstrap = start_script("kafka.sh", run_dir, "KAFKA_BOOTSTRAP")
    try:
        yield bootstrap
    finally:
        local_script("kafka.sh", "stop", "--dir", str(run_dir))


@contextlib.contextmanager
def own_postgres(run_dir: Path) -> Iterator[str]:
    """A PostgreSQL cluster of this test alone (it will be restarted)."""
    dsn = start_script("postgres.sh", run_dir, "PG_DSN")
    try:
        yield dsn
    finally:
        local_script("postgres.sh", "stop", "--dir", str(run_dir))


# --- observing a process from outside -------------------------------------------------------


def metric_sum(metrics: str, name: str) -> float:
    """The sum over all label sets of metric ``name`` in a Prometheus text exposition."""
    return sum(
        float(m.group(1))
        for m in re.finditer(rf"^{name}{{[^}}]*}} ([0-9.e+-]+)$", metrics, re.MULTILINE)
    )


def tcp_ports(pid: int, remote_port: int) -> list[int]:
    """The local ports of process ``pid``'s TCP connections to ``remote_port`` (Linux
    ``/proc``): how PostgreSQL's ``pg_stat_activity.client_port`` names its connections."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            columns = line.split()
            local, remote, inode = columns[1], columns[2], columns[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


# The open transactions of the given client ports that hold a lock on ``consumer_offsets``
# in this database: a consumer's batch transaction, from its first statement (reading the
# stored offsets) until it ends.
BATCH_TRANSACTION = """
SELECT a.pid AS backend, a.state,
       round(extract(epoch FROM now() - a.xact_start) * 1000)::int AS open_ms,
       left(a.query, 80) AS last_statement
FROM pg_stat_activity a
WHERE a.client_port = ANY($1::int[])
  AND a.datname = current_database()
  AND a.xact_start IS NOT NULL
  AND EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.relation = 'consumer_offsets'::regclass)
"""


async def drop_topics(bootstrap: str, names: list[str]) -> list[str]:
    """Delete those of ``names`` that exist; returns the ones deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        gone = [t for t in names if t in existing]
        if gone:
            await admin.delete_topics(gone)
        return gone
    finally:
        await admin.close()


# --- the services as processes ---------------------------------------------------------------


@dataclass
class Proc:
    name: str  # e.g. "router-2"
    service: str  # ingest | router | caseview
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    starts: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Stack:
    """Per-run topics, consumer groups and databases; the services as processes."""

    kafka: str
    pg_dsn: str  # postgresql://user@host:port (no database)
    work_dir: Path
    partitions: int = 6
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    procs: dict[str, Proc] = field(default_factory=dict)
    smtp_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Consumers' counters per process and incarnation (``Proc.starts``), as last read from
    # its /metrics (before a kill or stop, and once at the end). A later read of the same
    # incarnation replaces the earlier one; a restarted process counts from zero again, so
    # its incarnations add up (``consumer_totals``).
    scraped: dict[str, dict[int, Counter[str]]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def topics(self) -> dict[str, str]:
        return {
            "inbound": f"rel.inbound.{self.suffix}",
            "timeline": f"rel.timeline.{self.suffix}",
            "commands": f"rel.commands.{self.suffix}",
            "deadletter": f"rel.deadletter.{self.suffix}",
            "outbound": f"rel.outbound.{self.suffix}",
            "outbound_status": f"rel.outbound-status.{self.suffix}",
            "delivery_reports": f"rel.delivery-reports.{self.suffix}",
        }

    def database(self, service: str) -> str:
        return f"rel_{self.suffix}_{service}"

    def url(self, service: str, driver: str = "postgresql+asyncpg") -> str:
        return (
            self.pg_dsn.replace("postgresql://", f"{driver}://", 1) + "/" + self.database(service)
        )

    def dsn(self, service: str) -> str:
        """Plain asyncpg DSN of a service's database (for the ledger and fault injection)."""
        return f"{self.pg_dsn}/{self.database(service)}"

    def group(self, service: str) -> str:
        return f"rel-{service}-{self.suffix}"

    async def prepare(self) -> None:
        """Topics and migrated databases, once, before any process starts."""
        t = self.topics
        await ensure_topics(
            self.kafka,
            [
                TopicSpec(t["inbound"], self.partitions),
                TopicSpec(t["timeline"], self.partitions),
                TopicSpec(t["commands"], self.partitions),
                TopicSpec(t["deadletter"], 1),
                TopicSpec(t["outbound"], self.partitions),
                TopicSpec(t["outbound_status"], self.partitions),
                TopicSpec(t["delivery_reports"], self.partitions),
            ],
        )
        conn = await asyncpg.connect(f"{self.pg_dsn}/postgres")
        try:
            for service in MIGRATIONS:
                await conn.execute(f'CREATE DATABASE "{self.database(service)}"')
        finally:
            await conn.close()
        for service, migrations in MIGRATIONS.items():
            await asyncio.to_thread(upgrade, migrations, self.url(service))

    def env(self, service: str) -> dict[str, str]:
        t = self.topics
        env = {
            "EENLOKET_ENVIRONMENT": "test",
            "EENLOKET_LOG_LEVEL": os.environ.get("EENLOKET_RELIABILITY_LOG_LEVEL", "WARNING"),
            "EENLOKET_KAFKA_BOOTSTRAP": self.kafka,
            "EENLOKET_TOPIC_INBOUND": t["inbound"],
            "EENLOKET_TOPIC_TIMELINE": t["timeline"],
            "EENLOKET_TOPIC_COMMANDS": t["commands"],
            "EENLOKET_TOPIC_DEADLETTER": t["deadletter"],
            "EENLOKET_TOPIC_OUTBOUND": t["outbound"],
            "EENLOKET_TOPIC_OUTBOUND_STATUS": t["outbound_status"],
            "EENLOKET_TOPIC_DELIVERY_REPORTS": t["delivery_reports"],
            "EENLOKET_TOPIC_PARTITIONS": str(self.partitions),
            "EENLOKET_DATABASE_URL": self.url(service),
        }
        if service in ("router", "caseview"):
            env["EENLOKET_CONSUMER_GROUP"] = self.group(service)
        if service == "ingest":
            env |= {
                "EENLOKET_SMTP_PORT": str(self.smtp_port),
                "EENLOKET_SMTP_DOMAINS": json.dumps([MAIL_DOMAIN]),
                "EENLOKET_SMTP_TRUSTED_AUTHSERV_IDS": json.dumps([MAIL_GATEWAY]),
                "EENLOKET_API_KEYS": json.dumps({"reliability-load": LOAD_INTEGRATION}),
                "EENLOKET_ATTACHMENT_DIR": str(self.work_dir / "attachments"),
                "EENLOKET_KAFKA_TIMEOUT_SECONDS": "3",
                "EENLOKET_RETRY_AFTER_SECONDS": "1",
            }
        return env | self.extra_env

    def start(self, name: str) -> Proc:
        """Start (or restart) process ``name`` ("router-2"); returns at once."""
        service = name.split("-", 1)[0]
        old = self.procs.get(name)
        assert old is None or not old.alive(), f"{name} still runs"
        port = old.port if old else free_port()
        logs = HISTORY_DIR / "logs" / self.suffix  # kept beside the history, for analysis
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        out = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}", "serve"],
            cwd=ROOT,
            env={**os.environ, **self.env(service), "EENLOKET_HTTP_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        proc = Proc(name, service, port, process, log_path, starts=(old.starts + 1 if old else 1))
        self.procs[name] = proc
        return proc

    async def ready(self, *names: str, timeout: float = 120.0) -> None:
        for name in names or tuple(self.procs):
            p = self.procs[name]
            await asyncio.to_thread(wait_ready, Service(p.name, p.url, p.process, p.log), timeout)

    async def up(self, *names: str) -> None:
        """Start and wait until ready. A first start whose port was taken meanwhile (ports
        are chosen free, then bound by the child: a race on a shared machine) is retried on
        new ports."""
        for name in names:
            self.start(name)
        for name in names:
            for attempt in range(3):
                try:
                    await self.ready(name)
                    break
                except RuntimeError:
                    p = self.procs[name]
                    taken = "address already in use" in p.log.read_text(errors="replace")
                    if p.alive() or p.starts > 1 or not taken or attempt == 2:
                        raise
                    del self.procs[name]
                    if p.service == "ingest":
                        self.smtp_port = free_port()
                    self.start(name)

    async def scrape(self, name: str) -> None:
        """Read a consumer's counters into ``scraped`` (its own are lost when it dies)."""
        p = self.procs[name]
        if p.service == "ingest" or not p.alive():
            return
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"{p.url}/metrics")).text
        except httpx.HTTPError:
            return
        self._note_counters(p, text)

    def _note_counters(self, p: Proc, metrics: str) -> None:
        self.scraped[p.name][p.starts] = Counter(
            {key: int(metric_sum(metrics, metric)) for key, metric in CONSUMER_METRICS.items()}
        )

    def consumer_totals(self) -> dict[str, dict[str, int]]:
        """Per process, its counters summed over its incarnations."""
        totals: dict[str, dict[str, int]] = {}
        for name, incarnations in self.scraped.items():
            total: Counter[str] = Counter()
            for counts in incarnations.values():
                total.update(counts)
            totals[name] = {key: total[key] for key in CONSUMER_METRICS}
        return totals

    async def serving(self, name: str, *, timeout: float = 10.0) -> bool:
        """Whether ``name`` is alive in the sense that matters: its loops run and its
        dependencies answer (``/readyz`` 200 within ``timeout``), not only that the process
        exists. A loop that died never comes back, so waiting a little only forgives a
        momentary hiccup."""
        p = self.procs[name]
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=p.url, timeout=3) as http:
            while p.alive():
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return True
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.5)
        return False

    async def kill_mid_batch(
        self, name: str, *, keep_busy: Callable[[], object], timeout: float
    ) -> dict[str, Any]:
        """``kill -9`` consumer ``name`` while it is inside a batch; returns what happened.

        Polls its ``/metrics`` until ``eenloket_consumer_batch_in_flight`` is 1, freezes it
        (``SIGSTOP``) and then asks PostgreSQL, independently of that gauge, whether one of
        the process's own connections (matched by its TCP ports) has a transaction open that
        holds a lock on ``consumer_offsets``: the batch transaction reads the stored offsets
        first and keeps that lock until it commits or rolls back (the only other reader is
        the consumer's own, brief read at a partition assignment). Yes: ``SIGKILL`` while
        frozen, so the process dies inside the batch (``mid_batch``, with the transaction's
        state as evidence). No (the batch ended
        between the scrape and the freeze): ``SIGCONT`` and poll again (``missed``).
        ``keep_busy`` is called between polls (the load's top-up). After ``timeout`` seconds
        without a batch in flight the process is killed anyway, and ``mid_batch`` is false.
        """
        p = self.procs[name]
        pg_port = urlsplit(self.pg_dsn).port or 5432
        started = time.monotonic()
        result: dict[str, Any] = {"pid": p.pid, "mid_batch": False, "gauge_seen": 0, "missed": 0}
        conn = await asyncpg.connect(self.dsn(p.service), timeout=10)
        try:
            async with httpx.AsyncClient(base_url=p.url, timeout=2) as http:
                while time.monotonic() - started < timeout:
                    keep_busy()
                    try:
                        text = (await http.get("/metrics")).text
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                        continue
                    self._note_counters(p, text)
                    if metric_sum(text, IN_FLIGHT_METRIC) < 1:
                        await asyncio.sleep(0.02)
                        continue
                    result["gauge_seen"] += 1
                    os.kill(p.pid, signal.SIGSTOP)
                    try:
                        rows = await conn.fetch(BATCH_TRANSACTION, tcp_ports(p.pid, pg_port))
                    except BaseException:
                        os.kill(p.pid, signal.SIGCONT)
                        raise
                    if rows:
                        os.kill(p.pid, signal.SIGKILL)
                        result["mid_batch"] = True
                        result["transaction"] = [dict(r) for r in rows]
                        break
                    result["missed"] += 1
                    os.kill(p.pid, signal.SIGCONT)
        finally:
            await conn.close()
        if not result["mid_batch"]:
            log(f"{name}: no batch in flight within {timeout:.0f} s; killed anyway")
            os.kill(p.pid, signal.SIGKILL)
        await asyncio.to_thread(p.process.wait)
        result["waited"] = round(time.monotonic() - started, 2)
        return result

    async def kill(self, name: str) -> int:
        """``kill -9`` the process this stack started as ``name``; returns its pid."""
        p = self.procs[name]
        await self.scrape(name)
        pid = p.pid
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(p.process.wait)
        return pid

    async def stop(self, name: str) -> None:
        p = self.procs[name]
        await self.scrape(name)
        if p.alive():
            p.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(p.process.wait, 30)
            except subprocess.TimeoutExpired:
                p.process.kill()
                await asyncio.to_thread(p.process.wait)

    def signal(self, name: str, sig: signal.Signals) -> None:
        os.kill(self.procs[name].pid, sig)

    async def close(self) -> None:
        """Stop every process (their counters were read once, before the ledger's check)."""
        for p in self.procs.values():
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGCONT)
        for p in self.procs.values():
            if p.alive():
                p.process.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                await asyncio.to_thread(p.process.wait, 20)
            except subprocess.TimeoutExpired:
                p.process.kill()
                await asyncio.to_thread(p.process.wait)

    async def drop(self) -> dict[str, Any]:
        """Delete this run's topics and drop its databases (``WITH (FORCE)``: a killed
        process's backend may linger). Every step is tried; what failed is returned, not
        raised, so a failing run still reports its own failure first."""
        done: dict[str, Any] = {"topics": [], "databases": [], "errors": []}
        if KEEP:
            done["kept"] = True
            return done
        try:
            done["topics"] = await drop_topics(self.kafka, list(self.topics.values()))
        except Exception as exc:
            done["errors"].append(f"topics: {type(exc).__name__}: {exc}")
        try:
            conn = await asyncpg.connect(f"{self.pg_dsn}/postgres", timeout=10)
            try:
                for service in MIGRATIONS:
                    name = self.database(service)
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    done["databases"].append(name)
            finally:
                await conn.close()
        except Exception as exc:
            done["errors"].append(f"databases: {type(exc).__name__}: {exc}")
        if done["errors"]:
            log(f"cleanup of run {self.suffix} incomplete: {done['errors']}")
        return done

    def dump_stacks(self) -> None:
        """With py-spy installed: every live process's Python stacks beside its log (a hang's
        evidence)."""
        spy = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        if spy is None:
            return
        for p in self.procs.values():
            if p.alive():
                result = subprocess.run(
                    [spy, "dump", "--pid", str(p.pid)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                p.log.with_suffix(".stacks.txt").write_text(result.stdout + result.stderr)

    def consumers(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.service in ("router", "caseview")]

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name} (pid {p.pid}, exit {p.process.poll()}):\n"
            + "\n".join(p.log.read_text(errors="replace").splitlines()[-15:])
            for p in self.procs.values()
        )


# --- the load: unique messages over every channel --------------------------------------------

CHANNELS = ("web", "email", "smtp", "app", "chat", "phone", "counter", "letter")
SUBJECTS = (
    ("Paspoort verlopen", "Wanneer kan ik een afspraak maken voor een nieuw paspoort?"),
    ("Afval niet opgehaald", "De groene container is deze week niet geleegd."),
    ("Parkeervergunning", "Ik wil een parkeervergunning aanvragen voor mijn straat."),
    ("Lantaarnpaal kapot", "De lantaarnpaal bij de speeltuin brandt niet meer."),
    ("Vraag over de aanslag", "Klopt de aanslag afvalstoffenheffing van dit jaar?"),
    ("Verhuizing doorgeven", "Ik ben verhuisd en wil mijn nieuwe adres doorgeven."),
)
PDF = b"%PDF-1.4\n% proefscan\n%%EOF\n"
PDF_B64 = base64.b64encode(PDF).decode()


@dataclass(frozen=True)
class Sender:
    index: int
    channel: str
    run: str

    @property
    def tag(self) -> str:
        return f"{self.run}-{self.index:04d}"

    @property
    def address(self) -> str:
        return f"afzender-{self.tag}@example.nl"

    @property
    def bsn(self) -> str:
        """A BSN of this sender's own (passes the 11-proef): web, app and counter senders
        log in (DigiD, ID check), so all their messages reach one party by evidence."""
        base = int(self.run, 16) % 900 * 100_000 + self.index * 10 + 10_000_000
        while True:
            digits = f"{base:08d}"[-8:]
            check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
            if check < 10:
                return digits + str(check)
            base += 1


@dataclass(frozen=True)
class Ack:
    message_id: str
    sender: int
    n: int  # the n-th message of its sender (send order)
    channel: str
    attempts: int
    at: float  # seconds since the load started


def _raw_email(sender: Sender, msg_key: str, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    # The municipality's gateway vouches for the sender's domain (docs/routing.md): the
    # sender's mails reach one party by evidence, as real mail from a DMARC domain does.
    msg["Authentication-Results"] = f"{MAIL_GATEWAY}; dmarc=pass header.from=example.nl"
    msg["From"] = sender.address
    msg["To"] = f"info@{MAIL_DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{msg_key}@example.nl>"
    msg.set_content(text)
    return re.sub(rb"(?<!\r)\n", b"\r\n", msg.as_bytes())


def request_for(sender: Sender, n: int) -> tuple[str, dict[str, Any]]:
    """The channel path and httpx keyword arguments of a sender's n-th message
    (the same on every re-send: its own id is the idempotency key)."""
    key = f"{sender.tag}-{n:05d}"
    subject, text = SUBJECTS[(sender.index + n) % len(SUBJECTS)]
    text = f"{text} (bericht {key})"
    now = datetime.now(UTC).isoformat()
    ch = sender.channel
    if ch == "web":
        body: dict[str, Any] = {
            "submission_id": key,
            "authentication": "digid",
            "bsn": sender.bsn,
            "email": sender.address,
            "subject": subject,
            "text": text,
        }
    elif ch in ("email", "smtp"):
        return ch, {
            "content": _raw_email(sender, key, subject, text),
            "headers": {"Content-Type": "message/rfc822"},
        }
    elif ch == "app":
        body = {
            "message_id": f"app-{key}",
            "conversation_id": f"conv-{sender.tag}",
            "sent_at": now,
            "party": {"authentication": "digid", "bsn": sender.bsn, "email": sender.address},
            "subject": subject,
            "text": text,
        }
    elif ch == "chat":
        body = {
            "type": "message",
            "event_id": f"chat-{key}",
            "session_id": f"S-{sender.tag}",
            "occurred_at": now,
            "visitor": {"handle": f"bezoeker-{sender.tag}"},
            "text": text,
        }
    elif ch == "phone":
        started = datetime.now(UTC) - timedelta(minutes=5)
        body = {
            "call_id": f"call-{key}",
            "caller_number": f"020 {5_000_000 + sender.index}",
            "caller_id_verified": True,  # the network vouches: one party per caller
            "called_line": "14 020",
            "started_at": started.isoformat(),
            "ended_at": now,
            "subject": subject,
            "agent_notes": text,
        }
    elif ch == "counter":
        body = {
            "visit_id": f"balie-{key}",
            "visited_at": now,
            "location": "Stadskantoor, balie 2",
            "identity": {"checked": "id-document", "bsn": sender.bsn},
            "email": sender.address,
            "topic": subject,
            "notes": text,
        }
    elif ch == "letter":
        body = {
            "letter_id": f"post-{key}",
            "received_at": now,
            "sender": {
                "email": sender.address,
                "address_lines": [f"Proefstraat {sender.index + 1}", f"{sender.run}"],
            },
            "subject": subject,
            "ocr_text": text,
            "scan": {
                "filename": "brief.pdf",
                "media_type": "application/pdf",
                "content_base64": PDF_B64,
            },
        }
    else:  # pragma: no cover - CHANNELS is closed
        raise ValueError(ch)
    return ch, {"json": body}


def smtp_send(port: int, raw: bytes) -> tuple[int, str]:
    """One SMTP transaction (blocking); a broken connection is code 0."""
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.example.nl", timeout=30) as smtp:
            smtp.ehlo("mx.example.nl")
            smtp.mail("bounce@example.nl")
            code, reply = smtp.rcpt(f"info@{MAIL_DOMAIN}")
            if code != 250:
                return code, reply.decode(errors="replace")
            try:
                code, reply = smtp.data(raw)
            except smtplib.SMTPDataError as exc:
                error = exc.smtp_error
                text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
                return exc.smtp_code, text
            return code, reply.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as exc:
        return 0, type(exc).__name__


@dataclass
class LoadDriver:
    """``total`` unique messages from ``senders`` senders, mixed channels, re-sent until
    acknowledged (or ``give_up_after`` seconds per message)."""

    ingest_url: str
    smtp_port: int
    total: int
    senders: int = 200
    concurrency: int = 24
    give_up_after: float = 120.0
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    acks: list[Ack] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    unacknowledged: list[tuple[int, int]] = field(default_factory=list)  # (sender, n)
    server_errors: list[str] = field(default_factory=list)  # any 5xx that is not a 503
    refused: list[str] = field(default_factory=list)  # 4xx: a defect in the driver or ingest
    problem_types: Counter[str] = field(default_factory=Counter)  # content type of the 503s
    started: float = 0.0
    finished: float = 0.0
    last_ack: float = 0.0
    # How many messages the senders may have sent so far (None: all of them). A test that
    # needs work in flight at given moments releases the load in waves (``release``,
    # ``top_up``); ``exercise`` releases the rest when the injector returns.
    released: int | None = None
    issued: int = 0
    waves: list[tuple[float, int]] = field(default_factory=list)  # (seconds, released)
    _more: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> int:
        return len(self.acks)

    @property
    def idle(self) -> bool:
        """Every message released so far was sent and answered (or given up on)."""
        exhausted = self.released is None or self.issued >= self.released
        return exhausted and self.acknowledged + len(self.unacknowledged) >= self.issued

    def release(self, n: int | None = None) -> None:
        """Let ``n`` more messages go (None: all that are left)."""
        if self.released is None:
            return
        self.released = self.total if n is None else min(self.total, self.released + n)
        self.waves.append((round(time.monotonic() - self.started, 2), self.released))
        self._more.set()

    def top_up(self, n: int, *, every: float = 1.0) -> None:
        """Release ``n`` more once the senders are idle, at most once per ``every`` seconds
        (so waiting for a consumer to get work does not spend the whole load at once)."""
        if self.released is None or not self.idle:
            return
        if self.waves and time.monotonic() - self.started - self.waves[-1][0] < every:
            return
        self.release(n)

    async def _ticket(self) -> None:
        while self.released is not None and self.issued >= self.released:
            self._more.clear()
            await self._more.wait()
        self.issued += 1

    def plan(self) -> list[tuple[Sender, int]]:
        """(sender, number of messages), channels dealt round-robin."""
        base, extra = divmod(self.total, self.senders)
        return [
            (Sender(i, CHANNELS[i % len(CHANNELS)], self.run), base + (1 if i < extra else 0))
            for i in range(self.senders)
        ]

    async def run_load(self) -> None:
        self.started = time.monotonic()
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="smtp") as pool:
            async with httpx.AsyncClient(
                base_url=self.ingest_url, timeout=30, limits=limits, headers=LOAD_HEADERS
            ) as http:
                await asyncio.gather(
                    *(self._sender(http, pool, gate, s, count) for s, count in self.plan())
                )
        self.finished = time.monotonic()

    async def _sender(
        self,
        http: httpx.AsyncClient,
        pool: ThreadPoolExecutor,
        gate: asyncio.Semaphore,
        sender: Sender,
        count: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        for n in range(count):
            if self.unacknowledged:  # one message given up on: fail fast, do not wait on each
                self.unacknowledged.append((sender.index, n))
                continue
            await self._ticket()
            channel, kwargs = request_for(sender, n)
            deadline = time.monotonic() + self.give_up_after
            attempts = 0
            while True:
                attempts += 1
                async with gate:
                    if channel == "smtp":
                        code, text = await loop.run_in_executor(
                            pool, smtp_send, self.smtp_port, kwargs["content"]
                        )
                        self.statuses[f"smtp {code}"] += 1
                        message_id = text.rsplit(" ", 1)[-1] if code == 250 else None
                        retry = code in (0, 421, 451)
                        if code >= 500:
                            self.refused.append(f"smtp {code} {text[:120]}")
                    else:
                        message_id, retry = await self._post(http, channel, kwargs)
                if message_id is not None:
                    now = time.monotonic()
                    self.last_ack = now
                    self.acks.append(
                        Ack(
                            message_id,
                            sender.index,
                            n,
                            sender.channel,
                            attempts,
                            now - self.started,
                        )
                    )
                    break
                if not retry or time.monotonic() > deadline:
                    self.unacknowledged.append((sender.index, n))
                    break
                await asyncio.sleep(0.5 + random.random() * 0.5)

    async def _post(
        self, http: httpx.AsyncClient, channel: str, kwargs: dict[str, Any]
    ) -> tuple[str | None, bool]:
        try:
            r = await http.post(f"/v1/channels/{channel}", **kwargs)
        except httpx.HTTPError as exc:
            self.statuses[f"http {type(exc).__name__}"] += 1
            return None, True
        self.statuses[f"http {r.status_code}"] += 1
        if r.status_code == 202:
            return str(r.json()["message_id"]), False
        if r.status_code in (409, 503):  # 409: an earlier attempt still in flight
            self.problem_types[r.headers.get("content-type", "")] += 1
            return None, True
        if r.status_code >= 500:
            self.server_errors.append(f"{channel} {r.status_code} {r.text[:200]}")
            return None, True
        self.refused.append(f"{channel} {r.status_code} {r.text[:200]}")
        return None, False

    def summary(self) -> dict[str, Any]:
        duration = (self.finished or time.monotonic()) - self.started
        return {
            "run": self.run,
            "planned": self.total,
            "senders": self.senders,
            "acknowledged": self.acknowledged,
            "unacknowledged": len(self.unacknowledged),
            "send_seconds": round(duration, 1),
            "rate_per_second": round(self.acknowledged / duration, 1) if duration else None,
            "statuses": dict(self.statuses),
            "resent": sum(a.attempts - 1 for a in self.acks),
            "server_errors": self.server_errors[:20],
            "refused": self.refused[:20],
            "problem_content_types": dict(self.problem_types),
            "waves": self.waves,
        }


# --- the ledger -----------------------------------------------------------------------------


async def read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value of ``topic`` from the beginning to its current end."""
    return [r.value or b"" for r in await read_records(bootstrap, topic)]


async def read_records(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning to its current end, partition by
    partition, each partition in offset order (the order its consumers receive it)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()  # no group: every partition is assigned to this reader
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await until(lambda: bool(consumer.assignment()), timeout=30, what=f"{topic} assigned")
        tps = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 120
        while True:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in 120 s")
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def event_ids(values: list[bytes]) -> Counter[str]:
    ids: Counter[str] = Counter()
    for v in values:
        try:
            ids[str(orjson.loads(v)["id"])] += 1
        except (orjson.JSONDecodeError, KeyError, TypeError):
            ids["<not an envelope>"] += 1
    return ids


@dataclass(frozen=True)
class Seen:
    """One event as a reader met it: its first copy on the timeline topic, or its row in
    caseview's ``timeline_entries``."""

    event_id: str
    party: str
    sequence: int | None
    type: str
    case_id: str | None
    message_id: str | None
    at: int  # offset on its partition / caseview position: the order it was met in


def seen_on_topic(
    records: list[ConsumerRecord[bytes, bytes]],
) -> tuple[list[Seen], dict[str, set[int]]]:
    """The first copy of each event in arrival order (``read_records`` order), and the
    partitions each party's records were on. Later copies are redeliveries: consumers skip
    them by event id."""
    first: list[Seen] = []
    ids: set[str] = set()
    partitions: dict[str, set[int]] = defaultdict(set)
    for r in records:
        try:
            doc = orjson.loads(r.value or b"")
            event_id, party, type_ = str(doc["id"]), str(doc.get("subject")), str(doc["type"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        partitions[party].add(r.partition)
        if event_id in ids:
            continue
        ids.add(event_id)
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        sequence = doc.get("sequence")
        first.append(
            Seen(
                event_id,
                party,
                int(sequence) if sequence is not None else None,
                type_,
                str(data["case_id"]) if data.get("case_id") else None,
                str(data["message_id"]) if data.get("message_id") else None,
                r.offset,
            )
        )
    return first, partitions


def causal_problem(events: list[Seen]) -> str | None:
    """The first broken causal rule in this order of one party's events, if any."""
    opened: set[str | None] = set()
    for n, e in enumerate(events):
        if (e.type == PARTY_CREATED) != (n == 0):
            return "party.created first, and once"
        if e.type == CASE_OPENED:
            opened.add(e.case_id)
        elif e.type == ROUTED and e.case_id not in opened:
            return "case.opened of its case before message.routed"
    return None


def order_problems(events: list[Seen], where: str) -> list[dict[str, Any]]:
    """Per party, in the order the events were met (never sorted first): sequence numbers
    1, 2, 3, ... without gap, repeat or step back, and every event after its causal
    predecessor; the causal rules also in sequence order, the order caseview shows a
    history in."""
    by_party: dict[str, list[Seen]] = defaultdict(list)
    for e in events:
        by_party[e.party].append(e)
    problems: list[dict[str, Any]] = []
    for party, met in by_party.items():
        sequences = [e.sequence for e in met]
        bad = next((n for n, s in enumerate(sequences) if s != n + 1), None)
        if bad is not None:
            window = met[max(0, bad - 2) : bad + 3]
            problems.append(
                {
                    "where": where,
                    "party": party,
                    "rule": "sequence 1..n in the order met",
                    "index": bad,
                    "met": [(e.sequence, e.type.removeprefix("nl.eenloket.")) for e in window],
                }
            )
        by_sequence = sorted(met, key=lambda e: e.sequence or 0)
        for order, listed in (("met", met), ("sequence", by_sequence)):
            rule = causal_problem(listed)
            if rule is not None:
                problems.append({"where": where, "party": party, "rule": rule, "order": order})
    return problems


@dataclass
class Ledger:
    stack: Stack

    async def _fetch(self, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.stack.dsn(service), timeout=10)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def present(self, ids: list[str]) -> int:
        """How many of these message ids caseview shows."""
        rows = await self._fetch(
            "caseview",
            "SELECT count(DISTINCT message_id) AS n FROM timeline_entries "
            "WHERE message_id = ANY($1::uuid[])",
            ids,
        )
        return int(rows[0]["n"])

    async def drain(self, ids: list[str], *, timeout: float) -> float:
        """Poll until caseview shows every id (or ``timeout``); return the seconds it took.
        A database that is briefly away counts as "not yet"."""
        started = time.monotonic()
        deadline = started + timeout
        last = -1
        while True:
            try:
                found = await self.present(ids)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                found = last
            if found >= len(set(ids)):
                return time.monotonic() - started
            if found != last:
                last = found
            if time.monotonic() > deadline:
                log(f"drain deadline: {found} of {len(set(ids))} in caseview")
                return time.monotonic() - started
            await asyncio.sleep(0.5)

    async def outbox_drained(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = await self._fetch(
                "router", "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"
            )
            if rows[0]["n"] == 0:
                return True
            await asyncio.sleep(0.5)
        return False

    async def check(self, driver: LoadDriver) -> dict[str, Any]:
        """The mechanical checks; every list in the result should be empty."""
        acked = [a.message_id for a in driver.acks]
        acked_set = set(acked)
        # Caseview's rows in the order the projector applied them (``position`` is drawn in
        # commit order under its feed lock, and a batch's rows in the batch's order).
        rows = await self._fetch(
            "caseview",
            "SELECT position, event_id::text AS e, party_id::text AS p, sequence AS s, type, "
            "case_id::text AS c, message_id::text AS m FROM timeline_entries ORDER BY position",
        )
        applied = [
            Seen(
                r["e"],
                r["p"],
                int(r["s"]),
                r["type"],
                r["c"],
                r["m"],
                int(r["position"]),
            )
            for r in rows
        ]
        in_cv: dict[str, list[Seen]] = defaultdict(list)
        for e in applied:
            if e.message_id is not None:
                in_cv[e.message_id].append(e)
        rows_per_event = Counter(e.event_id for e in applied)
        outbox = await self._fetch(
            "router",
            "SELECT id::text AS e, type, payload->'data'->>'message_id' AS m, "
            "published_at IS NULL AS unpublished FROM outbox ORDER BY position",
        )
        router_processed = {
            r["e"]
            for r in await self._fetch(
                "router",
                "SELECT event_id::text AS e FROM processed_events WHERE consumer_group = $1",
                self.stack.group("router"),
            )
        }
        contacts = Counter(
            r["m"]
            for r in await self._fetch("router", "SELECT message_id::text AS m FROM contacts")
        )
        routed = Counter(r["m"] for r in outbox if r["type"] == ROUTED)
        outbox_ids = {r["e"] for r in outbox}
        outbox_types = Counter(str(r["type"]) for r in outbox)
        must_show = {r["e"] for r in outbox if r["type"] in SHOWN_IN_CASEVIEW}

        t = self.stack.topics
        inbound_wire = event_ids(await read_all(self.stack.kafka, t["inbound"]))
        timeline_records = await read_records(self.stack.kafka, t["timeline"])
        timeline_wire = event_ids([r.value or b"" for r in timeline_records])
        on_topic, partitions = seen_on_topic(timeline_records)
        dead = await read_all(self.stack.kafka, t["deadletter"])

        # Per sender: its messages reach one party and are routed, published, applied and
        # numbered in the order they were sent.
        topic_index = {
            e.message_id: n for n, e in enumerate(on_topic) if e.type == ROUTED and e.message_id
        }
        topic_routed = {e.message_id: e for e in on_topic if e.type == ROUTED and e.message_id}
        order_violations = []
        by_sender: dict[int, list[Ack]] = defaultdict(list)
        for a in driver.acks:
            # A letter's sender is only what it says (claimed): each letter may be a party
            # of its own (docs/routing.md), so each is its own "sender" here.
            by_sender[a.sender if a.channel != "letter" else -1 - len(by_sender)].append(a)
        for sender, acks in by_sender.items():
            sent = [a.message_id for a in sorted(acks, key=lambda a: a.n)]
            cv_rows = [in_cv[m][0] for m in sent if in_cv.get(m)]
            wire = [topic_routed[m] for m in sent if m in topic_routed]
            orders = {
                "caseview position": [e.at for e in cv_rows],
                "caseview sequence": [e.sequence or 0 for e in cv_rows],
                "topic arrival": [topic_index[m] for m in sent if m in topic_index],
                "topic sequence": [e.sequence or 0 for e in wire],
            }
            parties = {e.party for e in cv_rows} | {e.party for e in wire}
            broken = [k for k, v in orders.items() if any(b <= a for a, b in pairwise(v))]
            if len(parties) > 1 or broken:
                order_violations.append(
                    {"sender": sender, "parties": len(parties), "out_of_send_order": broken}
                )
        # Whatever party each message reached, the router decided a sender's messages in the
        # order they were sent: one inbound partition per sender, processed in order, and
        # the outbox ``position`` is drawn as the router writes.
        outbox_index = {r["m"]: n for n, r in enumerate(outbox) if r["type"] == ROUTED}
        decided: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for a in driver.acks:
            if a.message_id in outbox_index:
                decided[a.sender].append((a.n, outbox_index[a.message_id]))
        for sender, pairs in decided.items():
            if any(b <= a for a, b in pairwise(at for _, at in sorted(pairs))):
                order_violations.append({"sender": sender, "out_of_send_order": ["router"]})
        consumer_counts: Counter[str] = Counter()
        totals = self.stack.consumer_totals()
        for counts in totals.values():
            consumer_counts.update(counts)
        return {
            "acknowledged": len(acked),
            "distinct_acknowledged": len(acked_set),
            "lost": sorted(acked_set - set(in_cv)),
            "duplicated": sorted(m for m, found in in_cv.items() if len(found) > 1),
            "duplicate_timeline_event_ids": sorted(e for e, n in rows_per_event.items() if n > 1),
            "routed_twice": sorted(m for m, n in routed.items() if n > 1),
            "not_routed": sorted(acked_set - set(routed)),
            "contacts_twice": sorted(m for m, n in contacts.items() if n > 1),
            "not_processed_by_router": sorted(acked_set - router_processed),
            "unexpected_event_types": sorted(set(outbox_types) - SHOWN_IN_CASEVIEW),
            "events_without_effect": sorted(must_show - set(rows_per_event)),
            "effects_without_event": sorted(set(rows_per_event) - outbox_ids),
            "outbox_unpublished": sum(1 for r in outbox if r["unpublished"]),
            "dead_letters": len(dead),
            "order_on_topic": order_problems(on_topic, "topic"),
            "order_in_caseview": order_problems(applied, "caseview"),
            "parties_on_several_partitions": sorted(p for p, s in partitions.items() if len(s) > 1),
            "order_violations": order_violations,
            "in_caseview_not_acknowledged": len(set(in_cv) - acked_set),
            "parties": len({e.party for e in applied}),
            "timeline_entries": len(applied),
            "event_types": dict(outbox_types),
            "consumer_metrics": totals,
            "redeliveries": {
                "inbound_records": sum(inbound_wire.values()),
                "inbound_copies_on_the_wire": sum(n - 1 for n in inbound_wire.values()),
                "timeline_records": sum(timeline_wire.values()),
                "timeline_copies_on_the_wire": sum(n - 1 for n in timeline_wire.values()),
                "consumer_skipped_as_applied": consumer_counts["duplicates_skipped"],
                "consumer_batch_retries": consumer_counts["batch_retries"],
                "note": "consumer counts are read from /metrics before each kill or stop and "
                "once at the end, the last reading of each process incarnation counted once; "
                "what a process counted between its last reading and a kill -9 is not "
                "measurable",
            },
        }


FAILURE_KEYS = (
    "lost",
    "duplicated",
    "duplicate_timeline_event_ids",
    "routed_twice",
    "not_routed",
    "contacts_twice",
    "not_processed_by_router",
    "unexpected_event_types",
    "events_without_effect",
    "effects_without_event",
    "order_on_topic",
    "order_in_caseview",
    "parties_on_several_partitions",
    "order_violations",
)


def failures(report: dict[str, Any]) -> dict[str, Any]:
    """The non-empty failure lists (first ten of each), the unpublished outbox and dead letters."""
    bad: dict[str, Any] = {
        k: {"count": len(report[k]), "first": report[k][:10]} for k in FAILURE_KEYS if report[k]
    }
    if report["outbox_unpublished"]:
        bad["outbox_unpublished"] = report["outbox_unpublished"]
    if report["dead_letters"]:
        bad["dead_letters"] = report["dead_letters"]
    return bad


def write_history(
    test: str,
    *,
    stack: Stack,
    driver: LoadDriver,
    report: dict[str, Any],
    faults: list[dict[str, Any]],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> Path:
    """The run as JSON: acknowledged ids (send order per sender), faults, the ledger's report."""
    HISTORY_DIR.mkdir(parents=True, exist_ok=True)
    path = HISTORY_DIR / f"{test}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{stack.suffix}.json"
    history = {
        "test": test,
        "scale": SCALE,
        "at": datetime.now(UTC).isoformat(),
        "suffix": stack.suffix,
        "topics": stack.topics,
        "databases": {s: stack.database(s) for s in MIGRATIONS},
        "processes": {n: {"starts": p.starts, "log": str(p.log)} for n, p in stack.procs.items()},
        "load": driver.summary(),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "faults": faults,
        # Read once per process incarnation (the last reading), summed over incarnations.
        "consumer_metrics": stack.consumer_totals(),
        "report": report,
        "acknowledged": [
            {
                "message_id": a.message_id,
                "sender": a.sender,
                "n": a.n,
                "channel": a.channel,
                "attempts": a.attempts,
                "at": round(a.at, 3),
            }
            for a in driver.acks
        ],
        "unacknowledged": driver.unacknowledged,
        **(extra or {}),
    }
    path.write_text(json.dumps(history, indent=1))
    return path


def headline(report: dict[str, Any]) -> str:
    r = report["redeliveries"]
    return (
        f"acknowledged {report['acknowledged']}, lost {len(report['lost'])}, "
        f"duplicated {len(report['duplicated']) + len(report['routed_twice'])}, "
        f"dead letters {report['dead_letters']}, parties {report['parties']}, "
        f"redeliveries: inbound copies {r['inbound_copies_on_the_wire']}, timeline copies "
        f"{r['timeline_copies_on_the_wire']}, consumer skipped {r['consumer_skipped_as_applied']}, "
        f"batch retries {r['consumer_batch_retries']}"
    )


async def until(
    probe: Callable[[], bool | Awaitable[bool]], *, timeout: float, what: str, interval: float = 0.2
) -> float:
    """Poll ``probe`` until true; return the seconds it took, or fail saying ``what``."""
    started = time.monotonic()
    while True:
        result = probe()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(interval)


Injector = Callable[[Stack, LoadDriver, list[dict[str, Any]]], Coroutine[Any, Any, None]]


async def no_faults(stack: Stack, driver: LoadDriver, faults: list[dict[str, Any]]) -> None:
    return None


@dataclass
class Outcome:
    report: dict[str, Any]
    timings: dict[str, float]
    faults: list[dict[str, Any]]
    driver: LoadDriver
    history: Path
    cleanup: dict[str, Any]


async def exercise(
    test: str,
    stack: Stack,
    processes: list[str],
    *,
    messages: int,
    senders: int = 200,
    inject: Injector = no_faults,
    drain_seconds: float,
    extra: Callable[[], dict[str, Any]] | None = None,
    first_wave: int | None = None,
) -> Outcome:
    """Prepare, start ``processes``, send ``messages`` while ``inject`` injects faults, drain
    (at most ``drain_seconds`` after the last acknowledgement or fault), check the ledger,
    stop everything, drop the run's databases and topics, write the history. Fails only on
    infrastructure trouble: the test asserts on the outcome.

    ``first_wave``: only that many messages go until the injector releases more
    (``LoadDriver.release``/``top_up``); the rest goes when it returns."""
    started = time.monotonic()
    ledger = Ledger(stack)
    driver = LoadDriver("", stack.smtp_port, total=messages, senders=senders)
    driver.released = first_wave
    faults: list[dict[str, Any]] = []
    timings: dict[str, float] = {}

    async def injecting() -> None:
        try:
            await inject(stack, driver, faults)
        finally:
            driver.release()  # whatever the injector held back

    try:
        await stack.prepare()
        await stack.up(*processes)
        timings["startup"] = time.monotonic() - started
        driver.ingest_url = stack.procs[next(p for p in processes if p.startswith("ingest"))].url
        driver.smtp_port = stack.smtp_port
        driver.started = time.monotonic()  # the injector may read it before the load starts
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(driver.run_load())
            tasks.create_task(injecting())
        timings["send"] = driver.finished - driver.started
        # After faults, the deadline runs from the end of the last one (the injector returned).
        quiet_from = time.monotonic() if faults else driver.last_ack
        log(f"{test}: load done {driver.summary()}; faults {len(faults)}; draining")
        if driver.unacknowledged:  # the load already failed: measure, do not wait long
            drain_seconds = min(drain_seconds, 30.0)
        left = max(drain_seconds - (time.monotonic() - quiet_from), 0.0)
        await ledger.drain([a.message_id for a in driver.acks], timeout=left)
        if await ledger.present([a.message_id for a in driver.acks]) < driver.acknowledged:
            await asyncio.to_thread(stack.dump_stacks)
        timings["drain_after_last_send"] = time.monotonic() - driver.last_ack
        timings["drain_after_last_fault"] = time.monotonic() - quiet_from
        await ledger.outbox_drained(timeout=10)
        await asyncio.gather(*(stack.scrape(n) for n in stack.consumers()))
        report = await ledger.check(driver)
        # Alive: the loops run and the dependencies answer (/readyz 200), not merely that
        # the process exists (a process whose consumer loop died still exists).
        report["processes_alive_at_end"] = {n: await stack.serving(n) for n in stack.procs}
        report["processes_running_at_end"] = {n: p.alive() for n, p in stack.procs.items()}
    except BaseException:
        log(stack.tails())
        raise
    finally:
        try:
            await stack.close()
        finally:
            cleanup = await stack.drop()
    timings["total"] = time.monotonic() - started
    path = write_history(
        test,
        stack=stack,
        driver=driver,
        report=report,
        faults=faults,
        timings=timings,
        extra={"cleanup": cleanup, **(extra() if extra else {})},
    )
    log(
        f"{test}: {headline(report)}; faults {len(faults)}; "
        f"{driver.summary()['rate_per_second']} msg/s; "
        f"{ {k: round(v, 1) for k, v in timings.items()} }; history {path}"
    )
    return Outcome(report, timings, faults, driver, path, cleanup)


async def wait_acknowledged(driver: LoadDriver, fraction: float, timeout: float = 600) -> None:
    """Until ``fraction`` of the planned messages are acknowledged (fault pacing)."""
    await until(
        lambda: driver.acknowledged >= fraction * driver.total,
        timeout=timeout,
        what=f"{fraction:.0%} of {driver.total} acknowledged",
    )


def elapsed(driver: LoadDriver) -> float:
    return round(time.monotonic() - driver.started, 2)
