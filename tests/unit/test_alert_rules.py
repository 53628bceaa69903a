"""Every alert rule is proven to fire on the series the services really emit, and to stay
quiet on healthy ones (issue #21: `IngestRefusingForKafka` matched a `reason` the HTTP routes
never recorded, so it could not fire for them).

The rule tests are generated here, from the code: metric and label names from the
prometheus_client collectors, label values from the code's own vocabularies (the refusal
reasons, the consumer groups and topics of the settings, the histogram buckets), and run with
Prometheus' own `promtool test rules` (deploy/local/promtool.sh builds it from the Go module
proxy). An alert added without a firing and a quiet case here fails the test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Histogram

from services.caseview.config import CaseviewSettings
from services.caseview.klantinteracties import settle
from services.ingest.rejections import Reason
from services.ingest.service import REJECTED
from services.notifications import metrics as notifications
from services.notifications.mapping import KANALEN
from services.outbound.metrics import DELIVERIES, OLDEST_DUE
from services.router.commands.cases import HANDOVERS_AT_CLOSE
from services.router.config import RouterSettings
from services.router.gauges import FAMILIES
from shared import metrics
from shared.contracts import Channel
from shared.contracts.outbound import ReplyChannel, ReplyStatus
from shared.settings import ServiceSettings
from tests import support

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"

ROUTER_GROUP = RouterSettings.model_fields["consumer_group"].default
CASEVIEW_GROUP = CaseviewSettings.model_fields["consumer_group"].default
TIMELINE = ServiceSettings.model_fields["topic_timeline"].default
INBOUND = ServiceSettings.model_fields["topic_inbound"].default


def _labelnames(metric: Any) -> tuple[str, ...]:
    if isinstance(metric, str):  # a family of the router's system-wide gauges
        return FAMILIES[metric][1]
    return tuple(metric._labelnames)


def series(metric: Any, values: str, suffix: str = "", **labels: str) -> dict[str, str]:
    """One input series, refused unless its labels are exactly the metric's (plus ``le``)."""
    names = set(_labelnames(metric)) | ({"le"} if suffix == "_bucket" else set())
    assert set(labels) == names, f"{metric}: labels {sorted(labels)} != {sorted(names)}"
    name = metric if isinstance(metric, str) else metric._name
    name += "_total" if isinstance(metric, Counter) else suffix
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{selector}}}", "values": values}


def histogram(
    metric: Histogram, per_minute: dict[float, int], minutes: int, **labels: str
) -> list[dict[str, str]]:
    """Cumulative buckets of a histogram that observes ``per_minute[value]`` times a minute."""
    out = []
    for bound in [*metric._upper_bounds]:
        rate = sum(n for value, n in per_minute.items() if value <= bound)
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        out.append(series(metric, f"0+{rate}x{minutes}", "_bucket", le=le, **labels))
    return out


def case(
    alert: str,
    eval_time: str,
    input_series: list[dict[str, str]],
    fires: list[dict[str, str]],
    interval: str = "1m",
    summary: str = "",
) -> dict[str, Any]:
    """A promtool test case: these series, then at ``eval_time`` exactly these alerts, each
    with the rule's runbook and this summary (what the person on call reads)."""
    runbook = f"docs/operations.md#{alert.lower()}"
    expected = [
        {"exp_labels": f, "exp_annotations": {"runbook": runbook, "summary": summary}}
        for f in fires
    ]
    return {
        "interval": interval,
        "input_series": input_series,
        "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": expected}],
    }


def _severity(alert: str) -> str:
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return str(
        next(
            r["labels"]["severity"]
            for g in rules["groups"]
            for r in g["rules"]
            if r["alert"] == alert
        )
    )


def rule_tests() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per alert: (a case where it fires, a healthy case where it does not)."""
    lag = metrics.CONSUMER_LAG
    delay = metrics.EVENT_DELAY
    sev = _severity
    tests: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    REFUSING = "Ingest answers 503/451: Kafka does not acknowledge"  # noqa: N806

    def behind(values: str) -> list[dict[str, str]]:
        return [
            series(lag, values, group=CASEVIEW_GROUP, topic=TIMELINE, partition=p) for p in "012"
        ]

    tests["ConsumerLagGrowing"] = (
        case(
            "ConsumerLagGrowing",
            "30m",
            behind("400+50x40"),
            [{"severity": sev("ConsumerLagGrowing"), "group": CASEVIEW_GROUP}],
            summary=f"{CASEVIEW_GROUP} is falling behind (5700 records)",
        ),
        case("ConsumerLagGrowing", "30m", behind("2000x40"), []),  # behind, but not falling further
    )
    dead = metrics.DEAD_LETTERS
    tests["DeadLettersArriving"] = (
        case(
            "DeadLettersArriving",
            "10m",
            [
                series(
                    dead, "0 0 0 1x10", group=ROUTER_GROUP, topic=INBOUND, reason="handler-failed"
                )
            ],
            [
                {
                    "severity": sev("DeadLettersArriving"),
                    "group": ROUTER_GROUP,
                    "reason": "handler-failed",
                }
            ],
            summary=f"{ROUTER_GROUP} dead-lettered records (handler-failed)",
        ),
        case(
            "DeadLettersArriving",
            "10m",
            [series(dead, "3x15", group=ROUTER_GROUP, topic=INBOUND, reason="handler-failed")],
            [],
        ),
    )
    backlog, published = metrics.OUTBOX_BACKLOG, metrics.OUTBOX_PUBLISHED
    tests["OutboxStuck"] = (
        case(
            "OutboxStuck",
            "15m",
            [series(backlog, "40x20"), series(published, "900x20")],
            [{"severity": sev("OutboxStuck")}],
            summary="The router's outbox has 40 unpublished events and publishes nothing",
        ),
        case("OutboxStuck", "15m", [series(backlog, "40x20"), series(published, "900+300x20")], []),
    )
    tests["ProjectionDelayHigh"] = (
        case(
            "ProjectionDelayHigh",
            "25m",
            histogram(delay, {8.0: 60}, 30, group=CASEVIEW_GROUP),
            [{"severity": sev("ProjectionDelayHigh"), "group": CASEVIEW_GROUP}],
            summary=f"Contacts take 9.95s (p99) to become visible in caseview ({CASEVIEW_GROUP})",
        ),
        case(
            "ProjectionDelayHigh", "25m", histogram(delay, {0.08: 60}, 30, group=CASEVIEW_GROUP), []
        ),
    )
    retries = metrics.BATCH_RETRIES
    tests["BatchesRetrying"] = (
        case(
            "BatchesRetrying",
            "15m",
            [series(retries, "0+30x20", group=ROUTER_GROUP)],
            [{"severity": sev("BatchesRetrying"), "group": ROUTER_GROUP}],
            summary=f"{ROUTER_GROUP} keeps rolling back batches (Kafka or the database is away)",
        ),
        case("BatchesRetrying", "15m", [series(retries, "0+1x20", group=ROUTER_GROUP)], []),
    )
    # Kafka does not acknowledge: every channel counts it under the one reason (the HTTP
    # routes through ProblemError(reason=...), SMTP directly; tests/integration/
    # test_ingest_broker_outage.py checks both emit it). Any one channel makes it fire.
    refusing = [
        series(REJECTED, "0+2x10", channel=c.value, reason=Reason.KAFKA_UNAVAILABLE)
        for c in Channel
    ]
    tests["IngestRefusingForKafka"] = (
        case(
            "IngestRefusingForKafka",
            "8m",
            refusing[:1],
            [{"severity": sev("IngestRefusingForKafka")}],
            summary=REFUSING,
        ),
        # Refusals for every other reason are the senders' doing, or another outage's.
        case(
            "IngestRefusingForKafka",
            "8m",
            [
                series(REJECTED, "0+5x10", channel=Channel.WEB.value, reason=r)
                for r in Reason
                if r is not Reason.KAFKA_UNAVAILABLE
            ],
            [],
        ),
    )
    for channel_series in refusing[1:]:  # and each channel alone
        tests[f"IngestRefusingForKafka/{channel_series['series']}"] = (
            case(
                "IngestRefusingForKafka",
                "8m",
                [channel_series],
                [{"severity": sev("IngestRefusingForKafka")}],
                summary=REFUSING,
            ),
            case("IngestRefusingForKafka", "8m", [], []),
        )
    overdue = "eenloket_router_overdue_cases"
    tests["NormBreaches"] = (
        # One replica publishes (services/router/gauges.py); the others expose no samples.
        case(
            "NormBreaches",
            "90m",
            [series(overdue, "2x100", team="burgerzaken")],
            [{"severity": sev("NormBreaches"), "team": "burgerzaken"}],
            summary="burgerzaken has 2 open cases past their due date",
        ),
        case("NormBreaches", "90m", [series(overdue, "0x100", team="burgerzaken")], []),
    )
    tests["HandoverChains"] = (
        case(
            "HandoverChains",
            "30h",
            histogram(HANDOVERS_AT_CLOSE, {5: 10}, 40),
            [{"severity": sev("HandoverChains")}],
            interval="1h",
            summary="1 in 10 closed cases was handed over 3 times or more "
            "(sent from pillar to post)",
        ),
        case(
            "HandoverChains",
            "30h",
            histogram(HANDOVERS_AT_CLOSE, {0: 9, 1: 1}, 40),
            [],
            interval="1h",
        ),
    )
    tests.update(reply_tests())
    tests.update(notification_tests())
    oldest_draft = settle.OLDEST
    tests["KlantcontactDraftsWaiting"] = (
        case(
            "KlantcontactDraftsWaiting",
            "15m",
            [series(oldest_draft, "0 900x20")],
            [{"severity": sev("KlantcontactDraftsWaiting")}],
            summary="A contact registered in steps has waited 900s to be published",
        ),
        # Drafts published within the settle window, now and then after a Kafka hiccup.
        case(
            "KlantcontactDraftsWaiting", "15m", [series(oldest_draft, "0 20 35 0 0 300 0x15")], []
        ),
    )
    return tests


def reply_tests() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The outbound service's alerts: replies failing on any channel, and replies waiting."""
    failed = ReplyStatus.FAILED.value
    tests: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def fails(channel: ReplyChannel, values: str) -> dict[str, Any]:
        return case(
            "RepliesFailing",
            "10m",
            [series(DELIVERIES, values, channel=channel.value, status=failed)],
            [{"severity": _severity("RepliesFailing"), "channel": channel.value}],
            summary=f"Replies by {channel.value} failed: the residents did not get them",
        )

    tests["RepliesFailing"] = (
        fails(ReplyChannel.EMAIL, "0 0 0 1x10"),
        # Replies sent, delivered, bounced ... and failures from before the window.
        case(
            "RepliesFailing",
            "20m",
            [
                series(DELIVERIES, "0+3x20", channel=ReplyChannel.EMAIL.value, status=s.value)
                for s in ReplyStatus
                if s is not ReplyStatus.FAILED
            ]
            + [series(DELIVERIES, "2x20", channel=ReplyChannel.EMAIL.value, status=failed)],
            [],
        ),
    )
    for channel in ReplyChannel:
        # The first failure after a start: the series appears at 1 (never 0 first).
        tests[f"RepliesFailing/first/{channel.value}"] = (
            fails(channel, "_x3 1x10"),
            case("RepliesFailing", "10m", [], []),
        )
    oldest = OLDEST_DUE
    tests["RepliesWaiting"] = (
        case(
            "RepliesWaiting",
            "10m",
            [series(oldest, "0 600x15")],
            [{"severity": _severity("RepliesWaiting")}],
            summary="The oldest reply due to be sent has waited 600s",
        ),
        # The workers keep up: what is due is sent within seconds, now and then a minute.
        case("RepliesWaiting", "10m", [series(oldest, "2 0 45 0 3 60 0x10")], []),
    )
    return tests


def notification_tests() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The publisher's alerts: notifications given up on a kanaal, and notifications waiting."""
    gave_up = notifications.GAVE_UP
    tests: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def gives_up(kanaal: str, values: str) -> dict[str, Any]:
        return case(
            "NotificationsGivingUp",
            "10m",
            [series(gave_up, values, kanaal=kanaal)],
            [{"severity": _severity("NotificationsGivingUp"), "kanaal": kanaal}],
            summary=f"Notifications on {kanaal} were given up: subscribers did not hear of "
            "these changes",
        )

    for kanaal in KANALEN:
        tests[f"NotificationsGivingUp/{kanaal}"] = (
            gives_up(kanaal, "0 0 0 2x10"),
            # Given up long ago, nothing since; notifications sent meanwhile.
            case(
                "NotificationsGivingUp",
                "40m",
                [
                    series(gave_up, "3x40", kanaal=kanaal),
                    series(notifications.ATTEMPTS, "0+5x40", kanaal=kanaal, outcome="sent"),
                ],
                [],
            ),
        )
        # The first give-up after a start: the series appears at 1.
        tests[f"NotificationsGivingUp/first/{kanaal}"] = (
            gives_up(kanaal, "_x3 1x10"),
            case("NotificationsGivingUp", "10m", [], []),
        )
    oldest = notifications.OLDEST_DUE
    tests["NotificationsWaiting"] = (
        case(
            "NotificationsWaiting",
            "20m",
            [series(oldest, "0 1200x25")],
            [{"severity": _severity("NotificationsWaiting")}],
            summary="The oldest notification due to be sent has waited 1200s",
        ),
        # Sent within seconds, now and then a retry's minutes.
        case("NotificationsWaiting", "20m", [series(oldest, "0 3 120 0 0 600 0x20")], []),
    )
    return tests


@pytest.fixture(scope="module")
def promtool() -> str:
    return support.promtool()


def test_the_rule_file_is_valid(promtool: str) -> None:
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert alerts == {name.split("/")[0] for name in rule_tests()}


def test_each_alert_fires_on_the_real_series_and_not_on_healthy_ones(
    promtool: str, tmp_path: Path
) -> None:
    cases = [c for pair in rule_tests().values() for c in pair]
    document = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": cases}
    path = tmp_path / "alerts.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_series_labels_are_the_metrics_own() -> None:
    with pytest.raises(AssertionError, match="labels"):
        series(REJECTED, "1", channel="web")  # the reason label missing: not what ingest emits
