"""The `routing` stage of `make bench`: routing accuracy on the labelled set (the same
figures as `eenloket routing evaluate`, docs/routing.md "Measuring accuracy") and the cost
of classifying a message (a 10,000-message loop over the set's texts)."""

from __future__ import annotations

import time
from typing import Any

from services.router.routing.evaluate import evaluate, load_set, misroute_rows, summary
from services.router.routing.rules import load_routing

LOOP = 10_000


async def run() -> dict[str, Any]:
    routing = load_routing()
    labelled = load_set()
    report = await evaluate(labelled, routing)
    texts = [f"{m.subject or ''}\n{m.text}" for m in labelled.messages]
    texts = (texts * (LOOP // len(texts) + 1))[:LOOP]
    for text in texts:  # warm: each word is looked up once, then remembered
        routing.classify(hint=None, text=text)
    began = time.perf_counter()
    for text in texts:
        routing.classify(hint=None, text=text)
    seconds = time.perf_counter() - began
    for line in summary(report, routing.default_team):
        print(f"routing: {line}", flush=True)
    for expected, routed, n, ids in misroute_rows(report):
        print(f"routing: misroute {expected} -> {routed}: {n} ({ids})", flush=True)
    print(f"routing: classify {LOOP:,} messages in {seconds * 1000:.0f} ms", flush=True)
    return report.figures(routing.default_team) | {
        "failures": report.failures(routing.default_team),
        "misroutes": [
            {"expected": e, "routed": r, "count": n} for e, r, n, _ in misroute_rows(report)
        ],
        "classify_us_per_message": round(seconds / LOOP * 1e6, 1),
    }
