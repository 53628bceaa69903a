"""Every scenario file, played end to end: the three services as processes on a real Kafka
broker (random topics) and real PostgreSQL, messages through ingest's routes and its SMTP
receiver, staff actions and checks through caseview. One test per file in
``scenarios/data``; the stack is started once for the module.

A scenario passes when every expectation holds. Expectations marked ``gap:`` state the
correct behaviour the system does not show yet: they must still fail — when one starts to
pass, this test fails too, so the marker is removed (docs/scenarios.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rich.console import Console

from scenarios.model import load_all, load_scenario, scenario_files
from scenarios.report import print_report
from scenarios.runner import Runner, ingest_env
from shared.devstack import free_port, run_services

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, pg_urls, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    common = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EENLOKET_TOPIC_INBOUND": f"e2e.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"e2e.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"e2e.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"e2e.deadletter.{suffix}",
        "EENLOKET_TOPIC_PARTITIONS": "3",
    }
    env = {
        name: {**common, "EENLOKET_DATABASE_URL": pg_urls[name]}
        for name in ("ingest", "router", "caseview")
    }
    env["router"]["EENLOKET_CONSUMER_GROUP"] = f"e2e-scen-router-{suffix}"
    env["caseview"]["EENLOKET_CONSUMER_GROUP"] = f"e2e-scen-caseview-{suffix}"
    smtp_port = free_port()
    domains = [s.mail_domain for s in load_all()]
    env["ingest"].update(ingest_env(smtp_port=smtp_port, mail_domains=domains))
    with run_services(env, tmp_path_factory.mktemp("scenario-logs")) as services:
        runner = Runner(
            ingest=services["ingest"].url,
            caseview=services["caseview"].url,
            smtp=("127.0.0.1", smtp_port),
            timeout=60,
        )
        try:
            yield runner
        finally:
            runner.http.close()


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: Path(p).stem)
def test_scenario(stack: Runner, path: Path) -> None:
    report = stack.play(load_scenario(path))
    # The whole report on failure (pytest shows captured output), without personal data:
    # identifiers are fresh stand-ins and never printed.
    print_report(report, Console(width=160, force_terminal=False))
    assert not report.problems(), f"scenario {report.scenario.name}:\n{report.problems()}"
