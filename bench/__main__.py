"""`make bench` / `make bench-quick`: run the stages and write the results.

Stages: ingest (#3), router (#4), caseview (#5), each on its own process against
a real broker and PostgreSQL on this machine. The raw Kafka ceiling, end to end
and memory are issue #8. `python -m bench --stage router` runs one stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from datetime import UTC, datetime
from typing import Any

from bench import caseview_stage, ingest_stage, router_stage
from bench.infra import BENCH, fresh_database, infrastructure
from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.migrations import upgrade
from shared.devstack import ROOT

STAGES = ("ingest", "router", "caseview")


async def database(dsn: str, name: str, migrations: Any) -> str:
    url = await fresh_database(dsn, name)
    await asyncio.to_thread(upgrade, migrations, url)
    return url


async def ingest(bootstrap: str, dsn: str, quick: bool) -> dict[str, Any]:
    url = await database(dsn, "eenloket_bench_ingest", INGEST_MIGRATIONS)
    i = await ingest_stage.run(bootstrap, url, seconds=5 if quick else 15, logs=BENCH / "logs")
    print(
        f"ingest: {i.accepted_per_second:,.0f} web forms/s accepted (keep-alive, {i.non_2xx} "
        f"non-2xx); at {i.half_rate:,.0f}/s: p50 {i.half_rate_p50_ms:.1f} ms, p99 "
        f"{i.half_rate_p99_ms:.1f} ms ({i.half_rate_errors} errors); SMTP "
        f"{i.smtp_per_second:,.0f} messages/s"
    )
    return {k: round(v, 2) for k, v in i.__dict__.items()}


async def router(bootstrap: str, dsn: str, quick: bool) -> list[dict[str, Any]]:
    count = 5_000 if quick else 20_000
    runs = []
    for processes in (1, 2):
        url = await database(dsn, "eenloket_bench_router", ROUTER_MIGRATIONS)
        r = await router_stage.run(
            bootstrap,
            url,
            count=count,
            sender_count=count // 10,
            processes=processes,
            logs=BENCH / "logs",
        )
        print(
            f"router x{processes}: {r.messages} messages, {r.senders} senders: consumed in "
            f"{r.seconds_to_consume:.1f}s, published in {r.seconds_to_publish:.1f}s "
            f"-> {r.routed_per_second:,.0f} routed/s"
        )
        runs.append({**r.__dict__, "routed_per_second": round(r.routed_per_second)})
    return runs


async def caseview(bootstrap: str, dsn: str, quick: bool) -> dict[str, Any]:
    url = await database(dsn, "eenloket_bench_caseview", CASEVIEW_MIGRATIONS)
    c = await caseview_stage.run(
        bootstrap,
        url,
        parties=500 if quick else 2000,
        logs=BENCH / "logs",
        table_rows=200_000 if quick else 1_000_000,
        reads=200 if quick else 1000,
    )
    print(
        f"caseview: {c.events} events projected in {c.seconds:.1f}s -> "
        f"{c.projected_per_second:,.0f}/s; first timeline page with {c.table_rows:,} rows: "
        f"p50 {c.p50_ms:.1f} ms, p99 {c.p99_ms:.1f} ms ({c.reads} reads over HTTP)"
    )
    return {
        **{k: round(v, 2) for k, v in c.__dict__.items()},
        "projected_per_second": round(c.projected_per_second),
    }


async def main(quick: bool, stages: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()[0],
        },
        "command": "make bench-quick" if quick else "make bench",
    }
    runners = {"ingest": ingest, "router": router, "caseview": caseview}
    with infrastructure() as (bootstrap, dsn):
        for stage in stages:
            results[stage] = await runners[stage](bootstrap, dsn, quick)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (development)")
    parser.add_argument("--stage", action="append", choices=STAGES, help="run only these")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.quick, args.stage or list(STAGES)))
    name = "bench-results-quick.json" if args.quick else "bench-results.json"
    out = ROOT / "docs" / name
    if args.stage:
        out = ROOT / ".local" / "bench" / name  # partial runs do not replace the record
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
