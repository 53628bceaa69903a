"""The Grafana dashboards are generated, watch only metrics and labels the services expose, have
the team variable, and aggregate over replicas without multiplying (deploy/grafana/build.py).

The metrics and their label names come from the prometheus_client collectors in ``REGISTRY``
after importing the services' modules, so a renamed metric or label fails here, not on a
dashboard that silently shows nothing."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from tests import support
from tests.unit.deploy_files import SERVICES

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"

# Labels Prometheus adds when it scrapes (job and instance always; pod on Kubernetes).
SCRAPE_LABELS = {"job", "instance", "pod"}
TEAM_LABELS = {"team", "from_team", "to_team"}
# Gauges are read per replica; each must first be reduced with `max` (every replica reports the
# same thing, or one elected replica does), keeping at least these labels: lag is per partition
# and only then summed over partitions, which replicas own disjointly.
GAUGE_MAX_KEEPS = {"eenloket_consumer_lag": {"group", "topic", "partition"}}
# Gauges whose sum over the replicas is what they mean: each replica says 1 or 0 for itself,
# the sum is how many replicas do it (services/router/gauges.py: one should).
REPLICA_SUMS = {"eenloket_router_gauges_leader"}
BAD = {"en": "Bad: ", "nl": "Slecht: "}


@dataclass(frozen=True)
class Series:
    kind: str  # counter, gauge, histogram bucket/sum/count
    labels: frozenset[str]


@functools.cache
def _build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_build", GRAFANA / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def exposed() -> dict[str, Series]:
    """Every series name the services expose, with its label names."""
    for service in SERVICES:  # their composition roots import the rest
        importlib.import_module(f"services.{service}.bootstrap")
    series: dict[str, Series] = {}
    # prometheus_client has no public way to list label names: a metric's _labelnames, or, for a
    # collector of its own (such as the router's system-wide gauges), its families' _labelnames.
    for collector in list(REGISTRY._collector_to_names):
        describe = getattr(collector, "describe", None)
        if describe is None:
            continue
        for family in describe():
            if not family.name.startswith("eenloket_"):
                continue
            owner = collector if isinstance(collector, MetricWrapperBase) else family
            labels = frozenset(getattr(owner, "_labelnames", ()))
            if family.type == "counter":
                series[family.name + "_total"] = Series("counter", labels)
            elif family.type == "histogram":
                series[family.name + "_bucket"] = Series("bucket", labels | {"le"})
                series[family.name + "_sum"] = Series("counter", labels)
                series[family.name + "_count"] = Series("counter", labels)
            else:
                series[family.name] = Series(family.type, labels)
    return series


METRIC = re.compile(r"\beenloket_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(eenloket_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"([^\"]*)\"")
GROUPING = re.compile(r"\b(by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(eenloket_[a-z0-9_]+)\s*,\s*([a-z_]+)\s*\)")
UNCHECKED = re.compile(r"\b(on|ignoring|group_left|group_right)\s*\(")
MAX_BEFORE = re.compile(r"\bmax\s*(?:by\s*\(([^)]*)\)\s*)?\(\s*$")
RATE_BEFORE = re.compile(r"\b(rate|increase)\(\s*$")


def _group_after(expr: str, start: int) -> str:
    """The balanced parenthesised text that starts at ``expr[start]`` (an opening parenthesis)."""
    depth = 0
    for i in range(start, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[start : i + 1]
    raise AssertionError(f"unbalanced parentheses in {expr!r}")


def _group_before(expr: str, end: int) -> str:
    """The balanced parenthesised text that ends just before ``end`` (after trailing spaces)."""
    stop = len(expr[:end].rstrip())
    assert expr[stop - 1] == ")", f"no aggregation argument before a grouping in {expr!r}"
    depth = 0
    for i in range(stop - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[i:stop]
    raise AssertionError(f"unbalanced parentheses in {expr!r}")


def problems(expr: str, known: dict[str, Series]) -> list[str]:
    """What in one PromQL expression names a metric or label the services do not expose, or
    aggregates over replicas in a way that multiplies; empty when all is well."""
    found: list[str] = []
    if UNCHECKED.search(expr):
        found.append("vector matching (on/ignoring/group_*) is not checked here: teach this test")
    for match in METRIC.finditer(expr):
        name = match.group()
        series = known.get(name)
        if series is None:
            found.append(f"unknown metric {name}")
            continue
        before = expr[: match.start()]
        if series.kind in ("counter", "bucket") and not RATE_BEFORE.search(before):
            found.append(f"{name} is a counter: take its rate or increase before aggregating")
        if series.kind == "gauge" and name not in REPLICA_SUMS:
            reduced = MAX_BEFORE.search(before)
            keeps = GAUGE_MAX_KEEPS.get(name, set())
            if reduced is None:
                found.append(f"{name} is a per-replica gauge: reduce it with max first")
            elif keeps - {label.strip() for label in (reduced.group(1) or "").split(",")}:
                found.append(f"{name}: max must keep {sorted(keeps)}")
    for match in SELECTOR.finditer(expr):
        series = known.get(match.group(1))
        for label, _ in MATCHER.findall(match.group(2)):
            if series is not None and label not in series.labels | SCRAPE_LABELS:
                found.append(f"{match.group(1)} has no label {label}")
    for match in GROUPING.finditer(expr):
        rest = expr[match.end() :].lstrip()
        argument = (
            _group_after(expr, len(expr) - len(rest))
            if rest.startswith("(")
            else _group_before(expr, match.start())
        )
        inside = [known[m] for m in METRIC.findall(argument) if m in known]
        for label in filter(None, (s.strip() for s in match.group(2).split(","))):
            if label in SCRAPE_LABELS:
                continue
            if not inside or any(label not in s.labels for s in inside):
                found.append(f"{match.group(1)} ({label}): not a label of every metric in it")
    return found


def rendered_dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in _build().render().items()}


def test_committed_dashboards_equal_what_build_py_generates():
    for name, text in _build().render().items():
        committed = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python deploy/grafana/build.py"
    assert {p.name for p in (GRAFANA / "dashboards").glob("*.json")} == set(_build().render())


def test_every_panel_watches_existing_metrics_and_labels_without_multiplying_replicas():
    known = exposed()
    for name, dashboard in rendered_dashboards().items():
        assert dashboard["panels"]
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found = problems(target["expr"], known)
                assert not found, f"{name} / {panel['title']}: {found}"


def test_every_dashboard_has_the_team_variable_on_a_metric_that_carries_team():
    known = exposed()
    for name, dashboard in rendered_dashboards().items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        team = variables.get("team")
        assert team is not None, f"{name} has no team variable"
        assert team["multi"] is True
        assert team["includeAll"] is True
        assert team["allValue"] == ".*"  # All also matches teams without a current series
        (query,) = LABEL_VALUES.findall(team["query"])
        metric, label = query
        assert label == "team"
        assert metric in known, metric
        assert "team" in known[metric].labels


def test_panels_filter_by_team_where_their_metrics_carry_a_team_and_say_so_where_not():
    build = _build()
    known = exposed()
    for name, dashboard in rendered_dashboards().items():
        uid = name.removesuffix(".json")
        language = build.DASHBOARDS[uid].language
        for panel in dashboard["panels"]:
            where = f"{uid} / {panel['title']}"
            # what it shows, then what to do when it looks bad
            assert BAD[language] in panel["description"], f"{where}: no '{BAD[language]}'"
            expr = " ".join(t["expr"] for t in panel["targets"])
            team_labelled = {m for m in METRIC.findall(expr) if known[m].labels & TEAM_LABELS}
            if "$team" not in expr:
                assert build.TEAM_NOTE[language] in panel["description"], where
                if team_labelled:  # the team label is there: the description must say why
                    assert build.NO_TEAM_LABEL[language] not in panel["description"], where
                continue
            for match in METRIC.finditer(expr):
                if match.group() not in team_labelled:
                    continue
                selector = SELECTOR.match(expr, match.start())
                matchers = MATCHER.findall(selector.group(2)) if selector else []
                filtered = {label for label, value in matchers if value == "$team"}
                assert filtered & TEAM_LABELS, f"{where}: {match.group()} ignores $team"


def test_the_team_leads_dashboard_is_in_dutch():
    build = _build()
    assert build.DASHBOARDS["teams"].language == "nl"
    teams = rendered_dashboards()["teams.json"]
    english = re.compile(r"\b(the|cases|per day|overdue|handovers|waiting)\b", re.IGNORECASE)
    for panel in teams["panels"]:
        assert not english.search(panel["title"]), panel["title"]
        assert not english.search(panel["description"]), panel["description"]


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum by (team) (eenloket_router_open_cases)", "reduce it with max first"),
        ("sum by (group) (eenloket_consumer_lag)", "reduce it with max first"),
        ("sum by (group) (max by (group) (eenloket_consumer_lag))", "max must keep"),
        ("sum(eenloket_outbox_published_total)", "take its rate"),
        ("sum by (team) (rate(eenloket_ingest_accepted_total[5m]))", "(team): not a label"),
        ("sum(rate(eenloket_ingest_accepted_total[5m])) by (team)", "(team): not a label"),
        ('max(eenloket_outbox_backlog{team=~"$team"})', "has no label team"),
        ("max(eenloket_router_open_cases_total)", "unknown metric"),
        ("max(eenloket_outbox_backlog) / on (job) max(eenloket_outbox_backlog)", "teach"),
    ],
)
def test_the_checks_catch_what_they_are_for(expr: str, complaint: str) -> None:
    found = problems(expr, exposed())
    assert any(complaint in f for f in found), found


def test_the_checks_accept_what_is_right():
    known = exposed()
    for expr in (
        "histogram_quantile(0.9, sum by (le, job) "
        "(rate(eenloket_router_handovers_per_case_bucket[1d])))",
        'max by (team) (eenloket_router_open_cases{team=~"$team"})',
        "sum by (group) (max by (group, topic, partition) (eenloket_consumer_lag))",
    ):
        assert problems(expr, known) == [], expr


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """Prometheus' own parser reads each panel (as a recording rule; `$team` as All expands)."""
    promtool = support.promtool()
    rules = [
        {"record": f"panel:{name.removesuffix('.json')}:{panel['id']}", "expr": target["expr"]}
        for name, dashboard in rendered_dashboards().items()
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    path = tmp_path / "panels.yml"
    text = json.dumps({"groups": [{"name": "panels", "rules": rules}]})
    path.write_text(text.replace("$team", ".*"), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_replies_dashboard_shows_deliveries_by_channel_and_status_and_the_oldest_due():
    exprs = [
        target["expr"]
        for panel in rendered_dashboards()["replies.json"]["panels"]
        for target in panel["targets"]
    ]
    assert any(
        "eenloket_outbound_deliveries_total" in e and "by (channel, status)" in e for e in exprs
    )
    assert any("eenloket_outbound_oldest_due_seconds" in e for e in exprs)
