"""`make bench` / `make bench-quick`: run the stages and write the results.

Stages, in order, on one Kafka broker and one PostgreSQL cluster started for the run:
  ceiling   raw aiokafka produce/consume/round trip at the pipeline's record sizes, and
            PostgreSQL batched inserts into caseview's timeline table (#8)
  ingest    web forms per second (wrk), open-loop latency (vegeta), SMTP (#3)
  router    routed per second from a pre-filled topic, 1 and 2 processes (#4)
  caseview  projected per second, 1 and 2 processes; timeline page at 1,000,000 rows (#5)
  facade    Klantinteracties GET /klantcontacten for one resident beside caseview's own
            timeline route: requests/s and p99 at 16 concurrent clients (#20)
  reads     the console's four reads at 16 and 64 clients beside the same SQL on asyncpg (#22)
  outbound  e-mails sent per second by one process into Mailpit, open-loop latency from
            a send request to its `sent` status at 50 /s (#17)
  e2e       the three services as processes under open-loop mixed-channel load at rising
            rates: latency from 202 to visible in caseview, peak memory (#8)
  import    bulk import into Kafka (bench/import_stage.py), then routed and projected (#8)
  routing   routing accuracy on the labelled set, and classify's cost per message (#23)

`python -m bench --stage router` runs one stage (results under .local/bench, the record
in docs/ is only replaced by a full `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bench import (
    caseview_stage,
    ceiling,
    e2e_stage,
    facade_stage,
    import_e2e,
    ingest_stage,
    outbound_stage,
    plots,
    read_stage,
    router_stage,
    routing_accuracy,
)
from bench.infra import BENCH, DURABLE, FAST, infrastructure, migrated_database, plain
from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.outbound.bootstrap import MIGRATIONS as OUTBOUND_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.devstack import ROOT

STAGES = (
    "ceiling",
    "ingest",
    "router",
    "caseview",
    "facade",
    "reads",
    "outbound",
    "e2e",
    "import",
    "routing",
)
DOC = ROOT / "docs" / "benchmarks.md"
TABLE_START, TABLE_END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


@dataclass(frozen=True)
class Sizes:
    budget_seconds: float  # the whole run; the e2e ladder stops early to stay inside it
    ceiling_messages: int
    ceiling_rows: int
    ingest_seconds: int
    smtp_messages: int
    router_messages: int
    caseview_parties: int
    table_rows: int
    reads: int
    reads_parties: int
    reads_rows: int
    reads_seconds: float  # per read and concurrency
    reads_ceiling_seconds: float
    outbound_mails: int
    outbound_rate: int
    outbound_seconds: float
    e2e_seconds: float
    e2e_rates: tuple[int, ...]
    e2e_drain_seconds: float
    e2e_senders: int
    import_contacts: int
    import_cap_seconds: float
    import_reserve_seconds: float  # kept free for the import stage after e2e


FULL = Sizes(
    budget_seconds=12 * 60,  # plus a fresh clone's venv (~1.5 min): under 15 min
    ceiling_messages=50_000,
    ceiling_rows=50_000,
    ingest_seconds=15,
    smtp_messages=2000,
    router_messages=20_000,
    caseview_parties=2000,
    table_rows=1_000_000,
    reads=1000,
    reads_parties=100_000,
    reads_rows=1_000_000,
    reads_seconds=7.5,  # 30 s per concurrency over the four reads: the stage within 3 min
    reads_ceiling_seconds=3,
    outbound_mails=5000,
    outbound_rate=50,
    outbound_seconds=30,
    e2e_seconds=60,
    # 100/s: everyday load, where issue #22 asks p50 < 60 ms and p99 < 250 ms to visible.
    e2e_rates=(100, 250, 500, 750, 1000, 1250),
    e2e_drain_seconds=30,
    e2e_senders=20_000,
    import_contacts=200_000,
    import_cap_seconds=120,
    import_reserve_seconds=150,
)
QUICK = Sizes(
    budget_seconds=150,
    ceiling_messages=10_000,
    ceiling_rows=10_000,
    ingest_seconds=5,
    smtp_messages=400,
    router_messages=3_000,
    caseview_parties=300,
    table_rows=200_000,
    reads=100,
    reads_parties=10_000,
    reads_rows=100_000,
    reads_seconds=1,
    reads_ceiling_seconds=0.5,
    outbound_mails=1000,
    outbound_rate=50,
    outbound_seconds=10,
    e2e_seconds=8,
    e2e_rates=(250, 500, 1000),
    e2e_drain_seconds=10,
    e2e_senders=5000,
    import_contacts=20_000,
    import_cap_seconds=20,
    import_reserve_seconds=45,
)


def _round(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()}


async def run_ceiling(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    out: dict[str, Any] = {"payload_bytes": ceiling.payload_sizes()}
    for name, envelope in (
        ("inbound", ceiling.inbound_envelope()),
        ("timeline", ceiling.timeline_envelope()),
    ):
        k = await ceiling.kafka(bootstrap, name, envelope.to_json(), size.ceiling_messages)
        out[f"kafka_{name}"] = _round(k.__dict__)
        print(
            f"ceiling kafka {name} ({k.size} B): produce {k.produce_per_second:,.0f}/s, consume "
            f"{k.consume_per_second:,.0f}/s, round trip {k.round_trip_per_second:,.0f}/s",
            flush=True,
        )
    url = await migrated_database(dsn, "eenloket_bench_ceiling", CASEVIEW_MIGRATIONS)
    p = await ceiling.postgres(plain(url), size.ceiling_rows)
    out["postgres"] = _round(p.__dict__)
    print(
        f"ceiling postgres: executemany {p.executemany_per_second:,.0f} rows/s, COPY "
        f"{p.copy_per_second:,.0f} rows/s",
        flush=True,
    )
    return out


async def run_ingest(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    url = await migrated_database(dsn, "eenloket_bench_ingest", INGEST_MIGRATIONS)
    i = await ingest_stage.run(
        bootstrap,
        url,
        seconds=size.ingest_seconds,
        logs=BENCH / "logs",
        smtp_messages=size.smtp_messages,
    )
    print(
        f"ingest: {i.accepted_per_second:,.0f} web forms/s accepted (keep-alive, {i.non_2xx} "
        f"non-2xx); at {i.half_rate:,.0f}/s: p50 {i.half_rate_p50_ms:.1f} ms, p99 "
        f"{i.half_rate_p99_ms:.1f} ms ({i.half_rate_errors} errors); at "
        f"{i.target_half_rate:,.0f}/s: p50 {i.target_half_rate_p50_ms:.1f} ms, p99 "
        f"{i.target_half_rate_p99_ms:.1f} ms ({i.target_half_rate_errors} errors); SMTP "
        f"{i.smtp_per_second:,.0f} messages/s",
        flush=True,
    )
    return _round(i.__dict__)


async def run_router(bootstrap: str, dsn: str, size: Sizes, _: float) -> list[dict[str, Any]]:
    count = size.router_messages
    runs = []
    for processes in (1, 2):
        url = await migrated_database(dsn, "eenloket_bench_router", ROUTER_MIGRATIONS)
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
            f"-> {r.routed_per_second:,.0f} routed/s",
            flush=True,
        )
        runs.append({**_round(r.__dict__), "routed_per_second": round(r.routed_per_second)})
    return runs


async def run_caseview(bootstrap: str, dsn: str, size: Sizes, _: float) -> list[dict[str, Any]]:
    runs = []
    for processes in (1, 2):
        url = await migrated_database(dsn, "eenloket_bench_caseview", CASEVIEW_MIGRATIONS)
        reads = size.reads if processes == 1 else 0
        c = await caseview_stage.run(
            bootstrap,
            url,
            parties=size.caseview_parties,
            logs=BENCH / "logs",
            table_rows=size.table_rows,
            reads=reads,
            processes=processes,
        )
        line = (
            f"caseview x{processes}: {c.events} events projected in {c.seconds:.1f}s -> "
            f"{c.projected_per_second:,.0f}/s"
        )
        if reads:
            line += (
                f"; first timeline page with {c.table_rows:,} rows: p50 {c.p50_ms:.1f} ms, "
                f"p99 {c.p99_ms:.1f} ms ({c.reads} reads over HTTP)"
            )
        print(line, flush=True)
        runs.append(
            {
                **_round(c.__dict__),
                "processes": processes,
                "projected_per_second": round(c.projected_per_second),
            }
        )
    return runs


async def run_facade(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    url = await migrated_database(dsn, "eenloket_bench_facade", CASEVIEW_MIGRATIONS)
    seconds = 10.0 if size is FULL else 5.0  # per route; the stage takes about a minute
    r = await facade_stage.run(bootstrap, url, seconds=seconds, logs=BENCH / "logs")
    print(
        f"facade: one resident's {r.contacts} contacts, first page of 100, {r.clients} "
        f"clients: Klantinteracties {r.facade.requests_per_second:,.0f} /s (p99 "
        f"{r.facade.p99_ms} ms) beside caseview's timeline {r.timeline.requests_per_second:,.0f}"
        f" /s (p99 {r.timeline.p99_ms} ms)",
        flush=True,
    )
    return {
        "contacts": r.contacts,
        "clients": r.clients,
        "seconds_per_route": r.seconds,
        "klantcontacten": r.facade.__dict__,
        "timeline": r.timeline.__dict__,
    }


async def run_reads(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    url = await migrated_database(dsn, "eenloket_bench_reads", CASEVIEW_MIGRATIONS)
    return await read_stage.run(
        url,
        bootstrap,
        parties=size.reads_parties,
        rows=size.reads_rows,
        seconds=size.reads_seconds,
        ceiling_seconds=size.reads_ceiling_seconds,
        concurrencies=(16, 64),
        logs=BENCH / "logs",
    )


async def run_outbound(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    url = await migrated_database(dsn, "eenloket_bench_outbound", OUTBOUND_MIGRATIONS)
    o = await outbound_stage.run(
        bootstrap,
        url,
        count=size.outbound_mails,
        rate=size.outbound_rate,
        seconds=size.outbound_seconds,
        logs=BENCH / "logs",
        workdir=BENCH / "outbound",
    )
    print(outbound_stage.summary(o), flush=True)
    return {
        **_round(o.__dict__),
        "mails_per_second": round(o.mails_per_second),
        "cpu_us_per_mail": round(o.cpu_us_per_mail),
    }


async def run_e2e(bootstrap: str, dsn: str, size: Sizes, deadline: float) -> dict[str, Any]:
    return await e2e_stage.run(
        bootstrap,
        dsn,
        rates=list(size.e2e_rates),
        seconds=size.e2e_seconds,
        drain_timeout=size.e2e_drain_seconds,
        senders=size.e2e_senders,
        logs=BENCH / "logs",
        workdir=BENCH / "e2e",
        deadline=deadline - size.import_reserve_seconds,
    )


async def run_import(bootstrap: str, dsn: str, size: Sizes, deadline: float) -> dict[str, Any]:
    if not (ROOT / "bench" / "import_stage.py").exists():
        return {"skipped": "bench/import_stage.py not present"}
    # At least a short look at routing the import, even when the budget is spent.
    cap = max(10.0, min(size.import_cap_seconds, deadline - time.monotonic() - 30))
    out = await import_e2e.run(
        bootstrap,
        dsn,
        contacts=size.import_contacts,
        cap_seconds=cap,
        logs=BENCH / "logs",
        workdir=BENCH / "import",
    )
    line = f"import: {out['contacts']:,.0f} contacts into Kafka at {out['per_second']:,.0f}/s"
    if "visible" in out:
        line += (
            f"; routed and visible in caseview: {out['visible']:,} in "
            f"{out['routing_seconds']} s ({out['visible_per_second']:,}/s)"
        )
    print(line, flush=True)
    return out


async def run_routing(bootstrap: str, dsn: str, size: Sizes, _: float) -> dict[str, Any]:
    return await routing_accuracy.run()  # in memory: no broker, no database


RUNNERS = {
    "ceiling": run_ceiling,
    "ingest": run_ingest,
    "router": run_router,
    "caseview": run_caseview,
    "facade": run_facade,
    "reads": run_reads,
    "outbound": run_outbound,
    "e2e": run_e2e,
    "import": run_import,
    "routing": run_routing,
}


async def main(
    quick: bool, stages: list[str], import_contacts: int | None = None, *, fast_db: bool = False
) -> dict[str, Any]:
    size = QUICK if quick else FULL
    if import_contacts:  # the whole import, as many contacts as asked, up to 30 min
        size = replace(
            size,
            import_contacts=import_contacts,
            import_cap_seconds=1800,
            budget_seconds=size.budget_seconds + 1800,
        )
    # aiokafka logs errors while a just-created topic's metadata propagates: not news here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)
    began = time.monotonic()
    deadline = began + size.budget_seconds
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
        },
        "command": ("make bench-quick" if quick else "make bench")
        + (" --fast-db" if fast_db else ""),
        "database": FAST if fast_db else DURABLE,
    }
    with infrastructure(fast_db=fast_db) as (bootstrap, dsn):
        for stage in stages:
            t = time.monotonic()
            outcome = await RUNNERS[stage](bootstrap, dsn, size, deadline)
            results["caseview_scale" if stage == "caseview" else stage] = outcome
            results.setdefault("stage_seconds", {})[stage] = round(time.monotonic() - t, 1)
    results["ratios"] = [
        {
            "stage": label,
            "per_second": round(value),
            "ceiling_per_second": round(c) if c else None,
            "ceiling": which,
            "ratio": round(value / c, 3) if c else None,
        }
        for label, value, c, which in plots.ratio_rows(results)
    ]
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    results["wall_seconds"] = round(time.monotonic() - began, 1)
    return results


def _n(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.1f}{unit}"


def table(r: dict[str, Any]) -> str:
    """The markdown summary of a run (what docs/benchmarks.md shows)."""
    lines = [
        f"Run: `{r['command']}`, {r['date']}, {r['wall_seconds'] / 60:.1f} min wall, load "
        f"average {r['machine']['load_average_at_start']} at the start. PostgreSQL: "
        f"{r.get('database', 'fast (before 2026-12-05 every run used the test cluster)')}.",
        "",
        "| stage | measured | ceiling it is compared with | ratio |",
        "|---|---|---|---|",
    ]
    for row in r["ratios"]:
        lines.append(
            f"| {row['stage']} | **{_n(row['per_second'])} /s** | "
            f"{_n(row['ceiling_per_second'])} /s ({row['ceiling']}) | "
            f"{row['ratio'] if row['ratio'] is not None else '—'} |"
        )
    c = r.get("ceiling")
    if c:
        lines += [
            "",
            "| ceiling | produce (send) | produce (send_batch) | consume | round trip |",
            "|---|---|---|---|---|",
        ]
        for name in ("inbound", "timeline"):
            k = c[f"kafka_{name}"]
            lines.append(
                f"| Kafka, {name} records ({k['size']} B, {k['count']:,}) | "
                f"{_n(k['produce_per_second'])} /s | {_n(k['produce_batched_per_second'])} /s | "
                f"{_n(k['consume_per_second'])} /s | "
                f"{_n(k['round_trip_per_second'])} /s |"
            )
        p = c["postgres"]
        lines.append(
            f"| PostgreSQL, timeline rows ({p['rows']:,}) | executemany "
            f"{_n(p['executemany_per_second'])} rows/s | COPY {_n(p['copy_per_second'])} "
            "rows/s | | |"
        )
    e = r.get("e2e")
    if e:
        lines += [
            "",
            f"End to end ({e['seconds_per_rate']:.0f} s per rate, {e['senders']:,} senders; "
            f"highest rate with p99 < 1 s: **{e['highest_rate_p99_under_1s']} /s**; "
            f"{e['stopped']}):",
            "",
            "| offered /s | accepted /s | delivered /s | visible | p50 | p95 | p99 | max | "
            "p99 from send | errors | vegeta CPU | services CPU (cores) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in e["steps"]:
            cpu = ", ".join(f"{k} {v}" for k, v in s["service_cpu_cores"].items())
            errors = sum(s["errors"].values())
            lines.append(
                f"| {s['rate']} | {_n(s['accepted_per_second'])} | "
                f"{_n(s['visible_per_second'])} | {s['visible']:,}/{s['accepted']:,} | "
                f"{_n(s['p50_ms'], ' ms')} | {_n(s['p95_ms'], ' ms')} | "
                f"{_n(s['p99_ms'], ' ms')} | {_n(s['max_ms'], ' ms')} | "
                f"{_n(s['from_send_p99_ms'], ' ms')} | {errors} | "
                f"{s['generator_cpu_cores']} | {cpu} |"
            )
        mem = ", ".join(f"{k} {v} MiB" for k, v in e["peak_rss_mib"].items())
        lines += ["", f"Peak RSS (VmHWM) during the end-to-end run: {mem}."]
    i = r.get("ingest")
    if i:
        lines += [
            "",
            f"Ingest alone: {_n(i['accepted_per_second'])} web forms/s (wrk, keep-alive); at "
            f"{_n(i['half_rate'])} /s open loop p50 {i['half_rate_p50_ms']} ms, p99 "
            f"{i['half_rate_p99_ms']} ms; at {_n(i.get('target_half_rate', 0))} /s (half the "
            f"2,000 /s target) p50 {i.get('target_half_rate_p50_ms')} ms, p99 "
            f"{i.get('target_half_rate_p99_ms')} ms; SMTP {_n(i['smtp_per_second'])} messages/s.",
        ]
    for cv in r.get("caseview_scale", []):
        if cv["reads"]:
            lines.append(
                f"Timeline page with {cv['table_rows']:,} rows: p50 {cv['p50_ms']} ms, "
                f"p99 {cv['p99_ms']} ms ({cv['reads']:,} reads over HTTP)."
            )
    fa = r.get("facade")
    if fa:
        k, t = fa["klantcontacten"], fa["timeline"]
        lines.append(
            f"Klantinteracties facade, one resident's first page of 100 ({fa['contacts']} "
            f"contacts), {fa['clients']} concurrent clients: `GET /klantcontacten` "
            f"{_n(k['requests_per_second'])} /s, p99 {k['p99_ms']} ms; caseview's "
            f"`GET /v1/parties/{{id}}/timeline` {_n(t['requests_per_second'])} /s, p99 "
            f"{t['p99_ms']} ms (same run)."
        )
    if r.get("reads"):
        lines += read_stage.table(r["reads"])
    o = r.get("outbound")
    if o:
        lines.append(
            f"Outbound: {o['mails']:,} e-mails by one process into Mailpit at "
            f"{_n(o['mails_per_second'])} /s ({o['in_mailpit']:,} arrived; "
            f"{o['cpu_us_per_mail']:,} µs outbound CPU per mail; target 300 /s); at "
            f"{o['rate']} /s open loop: {o['latency_sent']:,}/{o['offered']:,} sent, from "
            f"request to `sent` on the status topic p50 {_n(o['p50_ms'], ' ms')}, p99 "
            f"{_n(o['p99_ms'], ' ms')} (target < 1 s); load average {o['load_average']}."
        )
    imp = r.get("import")
    if imp and "per_second" in imp:
        text = f"Import: {imp['contacts']:,} contacts into Kafka at {_n(imp['per_second'])} /s"
        if "visible" in imp:
            text += (
                f"; routed and projected: {imp['visible']:,} visible in caseview after "
                f"{imp['routing_seconds']} s ({_n(imp['visible_per_second'])} /s"
                + (
                    f", all in {imp['end_to_end_seconds']} s end to end"
                    if imp["complete"]
                    else ", time cap reached"
                )
                + f"); 1,000,000 extrapolated from these rates: ~{imp['extrapolated_1m_minutes']}"
                " min (target 10 min)"
            )
        lines.append(text + ".")
    acc = r.get("routing")
    if acc:
        lines.append(
            f"Routing accuracy ({acc['messages']} labelled messages, {acc['products']} "
            f"products): product {acc['product_accuracy']:.1%}, team {acc['team_accuracy']:.1%}, "
            f"{acc['wrong_case_joins']} wrong-case joins, no product to the KCC "
            f"{acc['none_to_kcc']:.0%}, KCC fallback {acc['kcc_fallback']:.1%}; classify "
            f"{acc['classify_us_per_message']} µs per message."
        )
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], quick: bool, partial: bool) -> None:
    out_dir = BENCH if (quick or partial) else ROOT / "docs"
    img_dir = BENCH / "img" if (quick or partial) else ROOT / "docs" / "img"
    out_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    name = "bench-results-quick.json" if quick else "bench-results.json"
    (out_dir / name).write_text(json.dumps(results, indent=2) + "\n")
    md = table(results)
    (BENCH / "bench-table.md").write_text(md)
    if "e2e" in results and results["e2e"]["steps"]:
        plots.latency(results, img_dir / "bench-latency.png")
    if results["ratios"]:
        plots.throughput(results, img_dir / "bench-throughput.png")
    if not (quick or partial):
        doc = DOC.read_text()
        if TABLE_START in doc and TABLE_END in doc:
            head, rest = doc.split(TABLE_START, 1)
            DOC.write_text(head + TABLE_START + "\n" + md + TABLE_END + rest.split(TABLE_END, 1)[1])
    print(md)
    print(f"results: {(out_dir / name).relative_to(ROOT)}, pictures: {img_dir.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (development)")
    parser.add_argument("--stage", action="append", choices=STAGES, help="run only these")
    parser.add_argument(
        "--fast-db",
        action="store_true",
        help="PostgreSQL without fsync/synchronous_commit (the test cluster's settings); "
        "figures labelled as such",
    )
    parser.add_argument(
        "--import-contacts",
        type=int,
        help="import stage with this many contacts, routed and projected in full "
        "(e.g. 1000000 for #7's target; `make bench` uses 200,000 and extrapolates)",
    )
    args = parser.parse_args()
    outcome = asyncio.run(
        main(args.quick, args.stage or list(STAGES), args.import_contacts, fast_db=args.fast_db)
    )
    write(outcome, args.quick, partial=bool(args.stage))
