"""Read stage (#22): the console's four reads against caseview on durable PostgreSQL, beside
the same SQL statements run directly with asyncpg at the same concurrency (the ceiling).

Caseview (`python -m services.caseview serve`) as one process, then, for the party
timeline at the first concurrency, as two replicas sharing the clients (as shipped,
caseview runs as several replicas: deploy/k8s), on a database filled with SQL:
``parties`` parties (one case each, spread over ten teams, every 20th confidential), each
with an e-mail identifier and a name; ``rows`` timeline entries, a hundred each for the
first 1 % of parties (the busy ones the timeline and case reads ask for: every page is
full) and the rest spread over the others. Need-to-know and the access log are on, as in
production. Per concurrency, closed loop over keep-alive connections (a small raw HTTP/1.1
client: its CPU stays out of caseview's way), each read on its own for ``seconds`` /4:

- timeline: ``GET /v1/parties/{id}/timeline`` (first page, 50 entries)
- case: ``GET /v1/cases/{id}`` then ``GET /v1/cases/{id}/timeline`` (one read, two requests)
- queue: ``GET /v1/teams/{team}/queue``
- search: ``POST /v1/parties/search`` by e-mail

The ceiling replays, per read, the statements caseview's own query functions send (captured
once from the SQLAlchemy engine, access-log insert included) in one transaction per read,
with asyncpg's prepared statements. CPU per read is read from /proc: caseview's process and
PostgreSQL's postmaster with its backends. With ``EENLOKET_BENCH_PROFILE=<file>`` py-spy
(``EENLOKET_BENCH_PYSPY``, default /tmp/pyspy/bin/py-spy) records caseview during the party
timeline at 16 clients (raw format, for docs/benchmarks.md's profiles).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event

from bench.infra import plain
from bench.procstat import cpu_seconds, cpu_seconds_reaped
from services.caseview.access_log import record
from services.caseview.auth import Principal, Role, mint_token
from services.caseview.cases import queries as case_queries
from services.caseview.cases.models import QueueSort
from services.caseview.parties.merges import locate
from services.caseview.parties.queries import find_parties
from services.caseview.timeline.queries import (
    TimelineFilter,
    case_timeline,
    single_party_page,
    timeline,
)
from services.caseview.viewer import Viewer
from shared.db.engine import POSTGRES_SERVER_SETTINGS, create_engine, session_factory
from shared.devstack import run_services

TEAMS = tuple(f"team{n}" for n in range(10))
READS = ("timeline", "case", "queue", "search")
REPLICAS = (1, 2)  # caseview processes; two for the party timeline at 16 clients only
BUSY_ENTRIES = 100  # per busy party: a first page of 50 is always full
LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)
BODY = {
    "channel": "email",
    "subject": "Vraag over mijn aanvraag",
    "text": "Goedemiddag, ik heb drie weken geleden een paspoort aangevraagd en wil graag "
    "weten wanneer ik het kan ophalen. Kunt u mij laten weten of er nog iets nodig is? "
    "Met vriendelijke groet.",
    "display_name": "Bench Inwoner",
    "attachments": [],
    "owner_team": "team0",
    "explanation": {
        "case_rule": "open-case-of-product",
        "case_detail": "paspoort",
        "owner_rule": "product-owner",
        "owner_detail": "paspoort -> team0",
        "ruleset_version": "bench",
    },
}


@dataclass
class Measured:
    reads: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    service_cpu: float = 0.0
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        n = max(self.reads, 1)
        return {
            "reads": self.reads,
            "errors": self.errors,
            "reads_per_second": round(self.reads / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
            "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 2) if lat else None,
            "service_cpu_ms_per_read": round(self.service_cpu * 1000 / n, 3),
            "postgres_cpu_ms_per_read": round(self.postgres_cpu * 1000 / n, 3),
            "client_cpu_ms_per_read": round(self.client_cpu * 1000 / n, 3),
        }


async def fill(dsn: str, parties: int, rows: int) -> None:
    """Parties, cases, identifiers, names and timeline rows, all by SQL (ids derived from
    the party's number, so the bench can name them without reading them back)."""
    busy = max(1, parties // 100)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            CREATE TEMP TABLE ids AS
            SELECT g AS n, md5('party' || g)::uuid AS party, md5('case' || g)::uuid AS case_id
            FROM generate_series(0, $1 - 1) AS g
            """,
            parties,
        )
        await conn.execute(
            """
            INSERT INTO parties (id, provisional, display_name, created_at)
            SELECT party, false, 'Inwoner ' || n, now() - interval '400 days' FROM ids;
            INSERT INTO party_identifiers (party_id, kind, value, trust, added_at, evidence)
            SELECT party, 'email', 'inwoner' || n || '@example.nl', 'verified', now(), 'reply'
            FROM ids;
            INSERT INTO party_name_keys (key, party_id) SELECT 'inwoner ' || n, party FROM ids;
            INSERT INTO cases (id, number, party_id, product, confidential, status, is_open,
                               owner_team, opened_at, due_at, queue_due, closed_at, result,
                               handover_count, last_activity_at)
            SELECT case_id, 'ZAAK-2026-' || lpad(n::text, 10, '0'), party,
                   CASE WHEN n % 20 = 0 THEN 'jeugdzorg' ELSE 'paspoort' END, n % 20 = 0,
                   CASE WHEN n % 2 = 0 THEN 'open' ELSE 'closed' END, n % 2 = 0,
                   'team' || (n % 10), now() - make_interval(mins => n),
                   now() + make_interval(days => n % 30), now() + make_interval(days => n % 30),
                   CASE WHEN n % 2 = 1 THEN now() END, NULL, 0, now()
            FROM ids;
            """
        )
        await conn.execute(
            """
            INSERT INTO timeline_entries (event_id, party_id, sequence, sort_at, case_id,
                                          message_id, type, channel, occurred_at,
                                          recorded_at, body)
            SELECT gen_random_uuid(), ids.party, g, now() - make_interval(secs => g),
                   ids.case_id, gen_random_uuid(), 'nl.eenloket.message.routed', 'email',
                   now() - make_interval(secs => g), now() - make_interval(secs => g),
                   $3::jsonb || jsonb_build_object('case_number', 'ZAAK-2026-' || ids.n)
            FROM generate_series(1, $1) AS g
            JOIN ids ON ids.n = CASE WHEN g <= $2 * 100 THEN g % $2
                                     ELSE $2 + g % ($4 - $2) END
            """,
            rows,
            busy,
            json.dumps(BODY),
            parties,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def busy_ids(parties: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The busy parties and their cases, as the fill derived them (md5 of a label)."""
    busy = max(1, parties // 100)
    ids = [uuid.UUID(hashlib.md5(f"party{n}".encode()).hexdigest()) for n in range(busy)]  # noqa: S324
    cases = [uuid.UUID(hashlib.md5(f"case{n}".encode()).hexdigest()) for n in range(busy)]  # noqa: S324
    return ids, cases


def requests(parties: int, token: str, host: str) -> dict[str, list[tuple[bytes, ...]]]:
    """Per read, a list of reads; each read is one or more raw HTTP/1.1 requests."""
    head = f"Host: {host}\r\nAuthorization: Bearer {token}\r\nX-Purpose: bench\r\n"

    def get(path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()

    def post(path: str, body: dict[str, Any]) -> bytes:
        data = json.dumps(body)
        return (
            f"POST {path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n{data}"
        ).encode()

    busy, cases = busy_ids(parties)
    return {
        "timeline": [(get(f"/v1/parties/{p}/timeline?limit=50"),) for p in busy],
        "case": [(get(f"/v1/cases/{c}"), get(f"/v1/cases/{c}/timeline?limit=50")) for c in cases],
        "queue": [(get(f"/v1/teams/{t}/queue?limit=50"),) for t in TEAMS],
        "search": [
            (post("/v1/parties/search", {"by": "email", "value": f"inwoner{n}@example.nl"}),)
            for n in random.Random(1).sample(range(parties), min(parties, 1000))
        ],
    }


async def _http_client(
    host: str, port: int, reads: list[tuple[bytes, ...]], until: float, out: Measured
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = random.randrange(len(reads))
    try:
        while time.perf_counter() < until:
            began = time.perf_counter()
            ok = True
            for req in reads[n % len(reads)]:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                ok = ok and head[9:12] == b"200"
                found = LENGTH.search(head)
                await reader.readexactly(int(found.group(1)) if found else 0)
            out.latencies.append(time.perf_counter() - began)
            out.reads += 1
            out.errors += not ok
            n += 1
    finally:
        writer.close()


def _spread(
    host: str, ports: list[int], reads: list[tuple[bytes, ...]]
) -> Callable[[float, Measured], Awaitable[None]]:
    """A client loop per call, the loops spread evenly over the replicas' ports."""
    turn = itertools.count()

    async def one(until: float, out: Measured) -> None:
        await _http_client(host, ports[next(turn) % len(ports)], reads, until, out)

    return one


async def measured(
    clients: int,
    seconds: float,
    one: Callable[[float, Measured], Awaitable[None]],
    service_pids: Sequence[int],
    postgres_pid: int,
) -> Measured:
    """``clients`` loops of ``one`` for ``seconds``; CPU of the service's processes (all
    replicas), PostgreSQL, this process."""
    out = Measured()
    cpu0 = (
        sum(cpu_seconds(pid) for pid in service_pids),
        cpu_seconds_reaped(postgres_pid),
        time.process_time(),
    )
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(one(until, out) for _ in range(clients)))
    out.seconds = time.perf_counter() - began
    out.service_cpu = sum(cpu_seconds(pid) for pid in service_pids) - cpu0[0]
    out.postgres_cpu = cpu_seconds_reaped(postgres_pid) - cpu0[1]
    out.client_cpu = time.process_time() - cpu0[2]
    return out


Statements = list[tuple[str, tuple[Any, ...]]]


async def capture(database_url: str, parties: int) -> dict[str, Statements]:
    """The statements caseview's query functions send for one read of each kind (and the
    access-log insert), as asyncpg receives them: ``$n`` placeholders and their values."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    sent: Statements = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if not many:
            sent.append((statement, tuple(params or ())))

    busy, cases = busy_ids(parties)
    viewer = Viewer(teams=frozenset(TEAMS))
    principal = Principal(user="bench", teams=frozenset(TEAMS), roles=frozenset({Role.MEMBER}))
    now = datetime.now(UTC)
    filters = TimelineFilter()

    async def timeline_read(s: Any) -> None:
        # As the route: one statement for a party never merged, else the general path.
        page = await single_party_page(
            s, viewer, busy[0], limit=50, before=None, filters=filters, count_cap=1000
        )
        if page is None:
            located = await locate(s, busy[0])
            assert located is not None
            await timeline(
                s, viewer, located[1], root=located[0], limit=50, before=None,
                filters=filters, count_cap=1000,
            )  # fmt: skip

    async def case_read(s: Any) -> None:
        await case_queries.case_view(s, viewer, cases[0], now=now, count_cap=1000)
        await case_timeline(
            s, viewer, cases[0], limit=50, before=None, filters=filters, count_cap=1000
        )

    async def queue_read(s: Any) -> None:
        await case_queries.team_queue(
            s, viewer, TEAMS[0], sort=QueueSort.AGE, limit=50, after=None, now=now, count_cap=1000
        )

    async def search_read(s: Any) -> None:
        await find_parties(s, "email", "inwoner7@example.nl", limit=20)

    out: dict[str, Statements] = {}
    for name, read in zip(READS, (timeline_read, case_read, queue_read, search_read), strict=True):
        sent.clear()
        async with sessions() as s:
            await read(s)
            # The log insert is a single row here (not executemany): one per read, as replayed.
            await record.record(s, principal, [record.Access(f"bench {name}", party_id=busy[0])],
                                purpose="bench")  # fmt: skip
        out[name] = [(q, p) for q, p in sent if not q.lstrip().upper().startswith("SELECT 1")]
    await engine.dispose()
    return out


async def run(
    database_url: str,
    bootstrap: str,
    *,
    parties: int,
    rows: int,
    seconds: float,
    ceiling_seconds: float,
    concurrencies: tuple[int, ...],
    logs: Path,
) -> dict[str, Any]:
    dsn = plain(database_url)
    t = time.perf_counter()
    await fill(dsn, parties, rows)
    fill_seconds = time.perf_counter() - t
    conn = await asyncpg.connect(dsn)
    postgres_pid = _parent(await conn.fetchval("SELECT pg_backend_pid()"))  # the postmaster
    await conn.close()
    statements = await capture(database_url, parties)
    suffix = uuid.uuid4().hex[:6]
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_CONSUMER_GROUP": f"bench-reads-{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"bench.timeline.{suffix}",
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
        "EENLOKET_LOG_LEVEL": "WARNING",
    }
    token = mint_token("bench", teams=list(TEAMS), roles=["member"])
    results: dict[str, Any] = {
        "parties": parties,
        "rows": rows,
        "fill_seconds": round(fill_seconds, 1),
        "seconds_per_read": seconds,
        "ceiling_seconds_per_read": ceiling_seconds,
        "statements": {k: len(v) for k, v in statements.items()},
        "runs": [],
    }
    ceilings: dict[tuple[str, int], Measured] = {}
    for replicas in REPLICAS:
        # As shipped, caseview runs as several replicas (deploy/k8s): one per core here.
        names = ["caseview", *(f"caseview#{n}" for n in range(2, replicas + 1))]
        with run_services(dict.fromkeys(names, env), logs / f"reads-x{replicas}") as services:
            host = "127.0.0.1"
            ports = [int(s.url.rsplit(":", 1)[1]) for s in services.values()]
            pids = [s.process.pid for s in services.values()]
            reads = requests(parties, token, f"{host}:{ports[0]}")
            for port in ports:
                await _http_client(
                    host, port, reads["timeline"], time.perf_counter() + 1, Measured()
                )
            for clients in concurrencies if replicas == 1 else concurrencies[:1]:
                for name in READS if replicas == 1 else READS[:1]:
                    load = os.getloadavg()[0]
                    profiled = (name, clients, replicas) == ("timeline", 16, 1)
                    spy = _profiler(pids[0]) if profiled else None
                    http = _spread(host, ports, reads[name])
                    m = await measured(clients, seconds, http, pids, postgres_pid)
                    if spy is not None:
                        spy.wait()
                    c = ceilings.get((name, clients))
                    if c is None:
                        c = await ceiling(
                            dsn, statements[name], clients, ceiling_seconds, postgres_pid
                        )
                        ceilings[name, clients] = c
                    row = {
                        "read": name,
                        "clients": clients,
                        "replicas": replicas,
                        "load_average": round(load, 2),
                        "service": m.summary(),
                        "ceiling": c.summary(),
                    }
                    results["runs"].append(row)
                    print(line(row), flush=True)
    return results


def _profiler(pid: int) -> subprocess.Popen[bytes] | None:
    out = os.environ.get("EENLOKET_BENCH_PROFILE")
    if not out:
        return None
    spy = os.environ.get("EENLOKET_BENCH_PYSPY", "/tmp/pyspy/bin/py-spy")  # noqa: S108
    return subprocess.Popen(  # noqa: S603 - a profiler the operator named
        [spy, "record", "--nonblocking", "-f", "raw", "-o", out, "-p", str(pid), "-d", "5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _parent(pid: int) -> int:
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("PPid:"):
            return int(text.split()[1])
    raise RuntimeError("no parent of the PostgreSQL backend")


async def ceiling(
    dsn: str, statements: Statements, clients: int, seconds: float, postgres_pid: int
) -> Measured:
    """The same statements, one transaction per read, on ``clients`` asyncpg connections."""
    pool = await asyncpg.create_pool(
        dsn, min_size=clients, max_size=clients, server_settings=POSTGRES_SERVER_SETTINGS
    )
    try:

        async def one(until: float, out: Measured) -> None:
            async with pool.acquire() as conn:
                while time.perf_counter() < until:
                    began = time.perf_counter()
                    async with conn.transaction():
                        for query, params in statements:
                            await conn.fetch(query, *params)
                    out.latencies.append(time.perf_counter() - began)
                    out.reads += 1

        return await measured(clients, seconds, one, (), postgres_pid)
    finally:
        await pool.close()


def line(row: dict[str, Any]) -> str:
    s, c = row["service"], row["ceiling"]
    return (
        f"reads {row['read']} x{row['clients']}{_on(row)}: {s['reads_per_second']:,.0f}/s, p50 "
        f"{s['p50_ms']} ms, p99 {s['p99_ms']} ms, CPU/read caseview "
        f"{s['service_cpu_ms_per_read']} ms + PostgreSQL {s['postgres_cpu_ms_per_read']} ms "
        f"({s['errors']} errors) | ceiling {c['reads_per_second']:,.0f}/s, p99 {c['p99_ms']} ms, "
        f"PostgreSQL {c['postgres_cpu_ms_per_read']} ms/read | load {row['load_average']}"
    )


def _on(row: dict[str, Any]) -> str:
    replicas = row.get("replicas", 1)
    return f" on {replicas} caseview replicas" if replicas > 1 else ""


def table(r: dict[str, Any]) -> list[str]:
    """The stage's markdown table (bench/__main__.py's ``table``)."""
    out = [
        "",
        f"Reads ({r['rows']:,} timeline rows over {r['parties']:,} parties; need-to-know and "
        f"access log on; {r['seconds_per_read']:g} s per read and concurrency, ceiling "
        f"{r['ceiling_seconds_per_read']:g} s):",
        "",
        "| read | clients | caseview replicas | reads/s | p50 | p99 | CPU/read caseview | "
        "CPU/read PostgreSQL | ceiling reads/s | ceiling p99 | ceiling PostgreSQL CPU/read | "
        "ratio | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["runs"]:
        s, c = row["service"], row["ceiling"]
        ratio = s["reads_per_second"] / c["reads_per_second"] if c["reads_per_second"] else 0
        out.append(
            f"| {row['read']} | {row['clients']} | {row.get('replicas', 1)} | "
            f"{s['reads_per_second']:,.0f} | "
            f"{s['p50_ms']} ms | {s['p99_ms']} ms | {s['service_cpu_ms_per_read']} ms | "
            f"{s['postgres_cpu_ms_per_read']} ms | {c['reads_per_second']:,.0f} | "
            f"{c['p99_ms']} ms | {c['postgres_cpu_ms_per_read']} ms | {ratio:.2f} | "
            f"{row['load_average']} |"
        )
    return out
