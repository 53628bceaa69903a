"""`make bench` / `make bench-quick`: run the stages that exist and write the results.

Stages so far: the router (issue #4). The full run with the raw Kafka ceiling,
ingest, caseview and end to end is issue #8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from datetime import UTC, datetime

from bench import router_stage
from bench.infra import BENCH, fresh_database, infrastructure
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
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.quick))
    out = ROOT / "docs" / "bench-results.json"
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
