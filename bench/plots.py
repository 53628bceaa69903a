"""The run's pictures: end-to-end latency over time per arrival rate, and throughput per
stage beside its ceiling (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt


def latency(results: dict[str, Any], out: Path) -> None:
    e2e = results["e2e"]
    timelines = e2e["timelines"]
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]}, layout="constrained"
    )
    ax, bar = axes
    offset = 0.0
    for step in e2e["steps"]:
        rows = timelines[str(step["rate"])]
        if not rows:
            continue
        by_second = {int(r[0]): r for r in rows}
        seconds = range(int(rows[-1][0]) + 1)
        xs = [offset + n for n in seconds]
        nan = float("nan")
        colour = "tab:green" if step["passed"] else "tab:red"
        # A second in which nothing was accepted is a gap, not a zero.
        p99 = [max(1.0, by_second[n][3]) if n in by_second else nan for n in seconds]
        p50 = [max(1.0, by_second[n][2]) if n in by_second else nan for n in seconds]
        ax.plot(xs, p99, color=colour, lw=1.5, marker=".", ms=3)
        ax.plot(xs, p50, color=colour, lw=1, ls="--")
        ax.text(
            offset + 1,
            0.97,
            f"{step['rate']}/s",
            fontsize=9,
            va="top",
            transform=ax.get_xaxis_transform(),
        )
        offset = xs[-1] + 5
    ax.axhline(e2e["p99_limit_ms"], color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("seconds of load (rates one after another; green passed, red failed)")
    ax.set_ylabel("ms, acceptance (202) -> visible in caseview")
    ax.set_title("End-to-end latency per second of load: p99 solid, p50 dashed")
    steps = e2e["steps"]
    bar.bar(
        [str(s["rate"]) for s in steps],
        [s["visible_per_second"] for s in steps],
        color=["tab:green" if s["passed"] else "tab:red" for s in steps],
    )
    bar.plot([str(s["rate"]) for s in steps], [s["rate"] for s in steps], "k_", ms=20)
    bar.set_title("delivered /s (bar) vs offered (-)")
    bar.set_xlabel("offered rate /s")
    fig.suptitle(f"{results['command']}, {results['date']}", fontsize=9)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def throughput(results: dict[str, Any], out: Path) -> None:
    """Each stage's rate (blue) under the ceiling it is compared with (grey)."""
    rows = [(label, value, ceiling) for label, value, ceiling, _ in ratio_rows(results)]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5), layout="constrained")
    labels = [r[0] for r in rows]
    ax.barh(labels, [r[2] or 0 for r in rows], color="lightgrey", label="ceiling")
    ax.barh(labels, [r[1] for r in rows], color="tab:blue", height=0.5, label="measured")
    low = min([r[1] for r in rows if r[1]] or [1.0]) / 2
    for n, (_, value, ceiling) in enumerate(rows):
        note = f"{value:,.0f}/s" + (f" ({value / ceiling:.0%})" if ceiling else "")
        ax.text(
            max(value, low), n, " " + (note if value else "none passed"), va="center", fontsize=8
        )
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("messages (or rows) per second, log scale")
    ax.legend(loc="lower right")
    ax.set_title(
        f"Throughput per stage against its ceiling — {results['command']}, {results['date']}"
    )
    fig.savefig(out, dpi=110)
    plt.close(fig)


def ratio_rows(results: dict[str, Any]) -> list[tuple[str, float, float | None, str]]:
    """(stage, measured per second, ceiling per second, which ceiling) for what ran."""
    c = results.get("ceiling", {})
    kafka_in = c.get("kafka_inbound", {})
    kafka_tl = c.get("kafka_timeline", {})
    pg = c.get("postgres", {})
    produce_in = kafka_in.get("produce_per_second")
    batched_in = kafka_in.get("produce_batched_per_second")
    trip_in = kafka_in.get("round_trip_per_second")
    consume_tl = kafka_tl.get("consume_per_second")
    pg_rate = pg.get("executemany_per_second")
    caseview_ceiling = min(consume_tl, pg_rate) if consume_tl and pg_rate else None
    rows: list[tuple[str, float, float | None, str]] = []
    if "ingest" in results:
        rows.append(
            (
                "ingest (web forms, wrk)",
                results["ingest"]["accepted_per_second"],
                produce_in,
                "Kafka send(), inbound size",
            )
        )
    for r in results.get("router", []):
        rows.append(
            (
                f"router x{r['processes']}",
                r["routed_per_second"],
                trip_in,
                "Kafka round trip, inbound size",
            )
        )
    for r in results.get("caseview_scale", []):
        rows.append(
            (
                f"caseview x{r['processes']}",
                r["projected_per_second"],
                caseview_ceiling,
                "min(Kafka consume timeline size, PostgreSQL executemany)",
            )
        )
    for run in results.get("reads", {}).get("runs", []):
        if run["read"] == "timeline":  # the console's main read; the others are in the table
            rows.append(
                (
                    f"party timeline page x{run['clients']}"
                    + (f", {run['replicas']} caseview" if run.get("replicas", 1) > 1 else ""),
                    run["service"]["reads_per_second"],
                    run["ceiling"]["reads_per_second"],
                    "the same SQL on asyncpg, same clients",
                )
            )
    if "outbound" in results:
        rows.append(
            (
                "outbound (e-mails into Mailpit)",
                results["outbound"]["mails_per_second"],
                None,  # SMTP to a local relay bounds it; nothing comparable is measured
                "none measured",
            )
        )
    if "e2e" in results:
        rows.append(
            (
                "end to end (p99 < 1 s)",
                results["e2e"]["highest_rate_p99_under_1s"],
                trip_in,
                "Kafka round trip, inbound size",
            )
        )
    imp = results.get("import", {})
    if "per_second" in imp:
        rows.append(
            ("import into Kafka", imp["per_second"], batched_in, "Kafka send_batch, inbound size")
        )
    if "visible_per_second" in imp:
        rows.append(
            (
                "import end to end",
                imp["visible_per_second"],
                trip_in,
                "Kafka round trip, inbound size",
            )
        )
    return rows
