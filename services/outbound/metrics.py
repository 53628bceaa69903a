"""Prometheus metrics of the outbound service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERIES = Counter(
    "eenloket_outbound_deliveries_total",
    "Deliveries that reached a status (requested, sent, delivered, bounced, failed, "
    "handed-to-print), per channel",
    ["channel", "status"],
)
ATTEMPTS = Counter(
    "eenloket_outbound_attempts_total",
    "Adapter calls per channel and outcome (sent, temporary, permanent)",
    ["channel", "outcome"],
)
OLDEST_DUE = Gauge(
    "eenloket_outbound_oldest_due_seconds",
    "Age of the oldest delivery that is due to be sent (0 when none is): a stuck worker or a "
    "provider that is down shows here first",
)
UNMATCHED_REPORTS = Counter(
    "eenloket_outbound_unmatched_reports_total",
    "Delivery reports whose token or reference matches no delivery, per channel",
    ["channel"],
)
IGNORED_REPORTS = Counter(
    "eenloket_outbound_ignored_reports_total",
    "Delivery reports that changed nothing (a repeat, or after a final status), per channel",
    ["channel"],
)
