"""`make bench` / `make bench-quick`: run the stages that exist and write the results.

Stages so far: ingest (#3), router (#4), caseview (#5), each on its own process
against a real broker and PostgreSQL on this machine. The raw Kafka ceiling,
end to end and memory are issue #8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from datetime import UTC, datetime

from bench import caseview_stage, ingest_stage, router_stage
from bench.infra import BENCH, fresh_database, infrastructure
from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.migrations import upgrade
from shared.devstack import ROOT


async def main(quick: bool) -> dict[str, object]:
    count = 5_000 if quick else 20_000
    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
        },
        "command": "make bench-quick" if quick else "make bench",
    }
    with infrastructure() as (bootstrap, dsn):
        url = await fresh_database(dsn, "eenloket_bench_ingest")
        await asyncio.to_thread(upgrade, INGEST_MIGRATIONS, url)
        i = await ingest_stage.run(bootstrap, url, seconds=5 if quick else 15, logs=BENCH / "logs")
        print(
            f"ingest: {i.accepted_per_second:,.0f} web forms/s accepted (keep-alive, {i.non_2xx} "
            f"non-2xx); at {i.half_rate:,.0f}/s: p50 {i.half_rate_p50_ms:.1f} ms, p99 "
            f"{i.half_rate_p99_ms:.1f} ms ({i.half_rate_errors} errors); SMTP "
            f"{i.smtp_per_second:,.0f} messages/s"
        )
        results["ingest"] = {k: round(v, 2) for k, v in i.__dict__.items()}

        router_runs = []
        for processes in (1, 2):
            url = await fresh_database(dsn, "eenloket_bench_router")
            await asyncio.to_thread(upgrade, ROUTER_MIGRATIONS, url)
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
            router_runs.append({**r.__dict__, "routed_per_second": round(r.routed_per_second)})
        results["router"] = router_runs

        url = await fresh_database(dsn, "eenloket_bench_caseview")
        await asyncio.to_thread(upgrade, CASEVIEW_MIGRATIONS, url)
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
        results["caseview"] = {
            **{k: round(v, 2) for k, v in c.__dict__.items()},
            "projected_per_second": round(c.projected_per_second),
        }
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.quick))
    out = ROOT / "docs" / "bench-results.json"
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
