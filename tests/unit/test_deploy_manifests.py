"""The deployment artefacts parse, say what they must, and watch metrics that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from shared.settings import ServiceSettings
from tests.unit.deploy_files import DEPLOY, ROOT, SERVICES


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


K8S = {p.name: docs(p) for p in sorted((DEPLOY / "k8s").glob("*.yaml"))}
ALL_K8S = [d for name, ds in K8S.items() if name != "kustomization.yaml" for d in ds]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in ALL_K8S if d["kind"] == kind}


def test_every_manifest_names_its_kind_and_is_listed_in_the_kustomization():
    for d in ALL_K8S:
        assert d["apiVersion"]
        assert d["metadata"]["name"]
    listed = set(K8S["kustomization.yaml"][0]["resources"])
    assert listed == set(K8S) - {"kustomization.yaml"}


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_probed_sized_and_unprivileged(name):
    deployment = by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [name, "serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(e.get("configMapRef") for e in container["envFrom"])
    assert name in by_kind("PodDisruptionBudget")
    assert f"migrate-{name}" in by_kind("Job")


def test_consumers_never_outnumber_partitions_and_ingest_autoscales():
    partitions = int(by_kind("ConfigMap")["eenloket-config"]["data"]["EENLOKET_TOPIC_PARTITIONS"])
    for name in SERVICES:
        if name != "ingest":  # the consumers; ingest is scaled by its autoscaler
            assert by_kind("Deployment")[name]["spec"]["replicas"] <= partitions
    hpa = by_kind("HorizontalPodAutoscaler")["ingest"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"


def test_kafka_has_three_brokers_and_durable_topics():
    pool = by_kind("KafkaNodePool")["brokers"]
    assert pool["spec"]["replicas"] == 3
    config = by_kind("Kafka")["eenloket"]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    topics = by_kind("KafkaTopic")
    # Every topic the services create in development, with its partitions and retention.
    specs = {t.name: t for t in ServiceSettings().topic_specs()}
    assert set(topics) == set(specs)
    for name, spec in specs.items():
        assert topics[name]["spec"]["partitions"] == spec.partitions, name
        assert topics[name]["spec"]["config"]["retention.ms"] == spec.retention_ms, name
    assert all(t["spec"]["replicas"] == 3 for t in topics.values())
    assert topics["omni.timeline.v1"]["spec"]["config"]["retention.ms"] == -1  # rebuildable


def test_compose_starts_everything_with_health_checks_and_migrations_first():
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("kafka", "postgres", "mailpit", "prometheus", "grafana", "otel-collector"):
        assert name in services
    for name in SERVICES:
        assert services[name]["command"] == [name, "serve"]
        assert "healthcheck" in services[name]
        depends = services[name]["depends_on"]
        assert depends[f"migrate-{name}"]["condition"] == "service_completed_successfully"


def test_compose_sends_replies_to_mailpit_and_has_a_database_for_each_service():
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    mailpit = compose["services"]["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    outbound = compose["services"]["outbound"]
    assert outbound["environment"]["EENLOKET_RELAY_HOST"] == "mailpit"
    assert outbound["environment"]["EENLOKET_RELAY_PORT"] == "1025"  # Mailpit's SMTP port
    assert outbound["depends_on"]["mailpit"]["condition"] == "service_healthy"
    init = (DEPLOY / "compose" / "postgres-init.sql").read_text()
    for name in SERVICES:
        assert f"CREATE DATABASE {name};" in init
        url = compose["services"][f"migrate-{name}"]["environment"]["EENLOKET_DATABASE_URL"]
        assert url.endswith(f"@postgres/{name}")


def test_prometheus_scrapes_every_service():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets >= {f"{name}:8000" for name in SERVICES}


def _metric_names() -> set[str]:
    for module in (
        *(f"services.{service}.bootstrap" for service in SERVICES),
        "shared.outbox",
        "shared.kafka.consumer",
    ):
        importlib.import_module(module)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.update(metric.name + s for s in suffixes.get(metric.type, [""]))
    return names


def _metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\beenloket_[a-z_]+", expr))


def test_alert_rules_watch_existing_metrics_and_have_runbooks():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    known = _metric_names()
    operations = (ROOT / "docs" / "operations.md").read_text()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert not _metrics_in(rule["expr"]) - known, rule["alert"]
            assert rule["annotations"]["runbook"].endswith(f"#{rule['alert'].lower()}")
            assert f"### {rule['alert']}" in operations, f"no runbook for {rule['alert']}"
