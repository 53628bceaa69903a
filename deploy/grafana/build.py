"""Generates the Grafana dashboards (deploy/grafana/dashboards/*.json) from short panel lists.

Run `python deploy/grafana/build.py` after changing a panel; a test checks that the
committed JSON equals what this produces and that every metric exists in the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"

# (title, PromQL, unit, panel type)
Panel = tuple[str, str, str, str]

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "intake": (
        "Eenloket — intake and channels",
        [
            (
                "Accepted per channel (/s)",
                "sum by (channel) (rate(eenloket_ingest_accepted_total[5m]))",
                "reqps",
                "timeseries",
            ),
            (
                "Refused per reason (/s)",
                "sum by (channel, reason) (rate(eenloket_ingest_rejected_total[5m]))",
                "reqps",
                "timeseries",
            ),
            (
                "Re-sent messages recognised (/s)",
                "sum by (channel) (rate(eenloket_ingest_duplicates_total[5m]))",
                "reqps",
                "timeseries",
            ),
            (
                "Receipt to Kafka ack, p99",
                "histogram_quantile(0.99, sum by (le, channel) (rate(eenloket_ingest_kafka_ack_seconds_bucket[5m])))",
                "s",
                "timeseries",
            ),
        ],
    ),
    "routing": (
        "Eenloket — routing and ownership",
        [
            (
                "Routed per owning team (/s)",
                "sum by (team) (rate(eenloket_router_messages_routed_total[5m]))",
                "reqps",
                "timeseries",
            ),
            (
                "Case matching rule (/s)",
                "sum by (case_rule) (rate(eenloket_router_messages_routed_total[5m]))",
                "reqps",
                "timeseries",
            ),
            (
                "No product recognised → KCC (share)",
                'sum(rate(eenloket_router_messages_routed_total{owner_rule="default-owner"}[1h])) / sum(rate(eenloket_router_messages_routed_total{case_rule="new-case"}[1h]))',
                "percentunit",
                "stat",
            ),
            (
                "Pillar to post: handovers per closed case, p90",
                "histogram_quantile(0.9, sum by (le) (rate(eenloket_router_handovers_per_case_bucket[1d])))",
                "none",
                "stat",
            ),
            (
                "Handovers between teams (per hour)",
                "sum by (from_team, to_team) (increase(eenloket_router_handovers_total[1h]))",
                "none",
                "table",
            ),
            (
                "Suggested identity links made (per hour)",
                "sum(increase(eenloket_router_links_suggested_total[1h]))",
                "none",
                "stat",
            ),
            (
                "Possible duplicate parties flagged (per hour)",
                "sum(increase(eenloket_router_duplicates_flagged_total[1h]))",
                "none",
                "stat",
            ),
            (
                "Staff commands rejected (per hour)",
                "sum by (command) (increase(eenloket_router_commands_rejected_total[1h]))",
                "none",
                "table",
            ),
        ],
    ),
    "teams": (
        "Eenloket — team backlog and norms (team leads)",
        [
            (
                "Open cases per owning team",
                "sum by (team) (eenloket_router_open_cases)",
                "none",
                "bargauge",
            ),
            (
                "Overdue cases per owning team (norm breaches)",
                "sum by (team) (eenloket_router_overdue_cases)",
                "none",
                "bargauge",
            ),
            (
                "Suggested identity links waiting for a person",
                "max(eenloket_router_suggested_links_pending)",
                "none",
                "stat",
            ),
            (
                "New cases per owning team (per day)",
                'sum by (team) (increase(eenloket_router_messages_routed_total{case_rule="new-case"}[1d]))',
                "none",
                "bargauge",
            ),
            (
                "Handovers away from each team (per day)",
                "sum by (from_team) (increase(eenloket_router_handovers_total[1d]))",
                "none",
                "bargauge",
            ),
            (
                "Handovers to each team (per day)",
                "sum by (to_team) (increase(eenloket_router_handovers_total[1d]))",
                "none",
                "bargauge",
            ),
        ],
    ),
    "pipeline": (
        "Eenloket — pipeline health",
        [
            (
                "Consumer lag per group",
                "sum by (group) (eenloket_consumer_lag)",
                "none",
                "timeseries",
            ),
            ("Consumer lag per partition", "eenloket_consumer_lag", "none", "table"),
            (
                "Dead letters (per hour)",
                "sum by (group, reason) (increase(eenloket_dead_letters_total[1h]))",
                "none",
                "timeseries",
            ),
            ("Outbox backlog", "max(eenloket_outbox_backlog)", "none", "stat"),
            (
                "Outbox published (/s)",
                "sum(rate(eenloket_outbox_published_total[5m]))",
                "ops",
                "timeseries",
            ),
            (
                "Projection delay p99 (event made → visible in caseview)",
                "histogram_quantile(0.99, sum by (le, group) "
                '(rate(eenloket_consumer_event_delay_seconds_bucket{group=~".*caseview.*"}[5m])))',
                "s",
                "timeseries",
            ),
            (
                "Batch apply time, p99",
                "histogram_quantile(0.99, sum by (le, group) (rate(eenloket_consumer_batch_seconds_bucket[5m])))",
                "s",
                "timeseries",
            ),
            (
                "HTTP p99 per route",
                "histogram_quantile(0.99, sum by (le, route) "
                "(rate(eenloket_http_request_seconds_bucket[5m])))",
                "s",
                "timeseries",
            ),
            (
                "Batches rolled back and retried (/s)",
                "sum by (group) (rate(eenloket_consumer_batch_retries_total[5m]))",
                "ops",
                "timeseries",
            ),
            (
                "Duplicates skipped by event id (/s)",
                "sum by (group) (rate(eenloket_consumer_duplicates_total[5m]))",
                "ops",
                "timeseries",
            ),
        ],
    ),
}


def dashboard(uid: str, title: str, panels: list[Panel]) -> dict[str, Any]:
    built = []
    for n, (panel_title, expr, unit, kind) in enumerate(panels):
        built.append(
            {
                "id": n + 1,
                "type": kind,
                "title": panel_title,
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 12, "x": (n % 2) * 12, "y": (n // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": expr, "datasource": {"uid": "prometheus"}}],
            }
        )
    return {
        "uid": f"eenloket-{uid}",
        "title": title,
        "tags": ["eenloket"],
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "panels": built,
    }


def render() -> dict[str, str]:
    return {
        f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2, ensure_ascii=False)
        + "\n"
        for uid, (title, panels) in DASHBOARDS.items()
    }


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
