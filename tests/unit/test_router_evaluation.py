"""Routing accuracy on the labelled set (tests/routing_eval, docs/routing.md "Measuring
accuracy"): the build fails when a figure misses issue #23's targets."""

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app
from services.router.routing.evaluate import evaluate, load_set, misroute_rows, summary
from services.router.routing.rules import load_routing

runner = CliRunner()


async def test_routing_meets_its_accuracy_targets() -> None:
    routing = load_routing()
    labelled = load_set()
    assert len(labelled.messages) >= 300
    assert len({m.product for m in labelled.messages if m.product}) >= 40
    assert {m.channel.value for m in labelled.messages} >= {
        "email",
        "web",
        "app",
        "chat",
        "phone",
        "counter",
        "letter",
    }
    report = await evaluate(labelled, routing)
    failures = report.failures(routing.default_team)
    details = [*summary(report, routing.default_team), *map(str, misroute_rows(report))]
    assert failures == [], "\n".join(details)
    assert report.wrong_case_joins == 0


def test_every_labelled_product_and_team_is_in_the_routing_file() -> None:
    routing = load_routing()
    labelled = load_set()
    for product, team in labelled.teams.items():
        rule = routing.product(product)
        assert rule is not None, product
        assert team in routing.teams, team


def test_the_ops_command_reports_and_fails_below_a_threshold(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["routing", "evaluate", "--json"])
    assert ok.exit_code == 0, ok.output
    figures = json.loads(ok.output)
    assert figures["wrong_case_joins"] == 0 and figures["failures"] == []
    # A set whose label the router cannot meet: the confusion table names it, exit 1.
    wrong = tmp_path / "set.yaml"
    wrong.write_text(
        "teams: {paspoort: burgerzaken}\n"
        "messages:\n"
        "  - {id: x-1, ch: web, from: x, text: 'Mijn kliko is niet geleegd', p: paspoort}\n"
    )
    refused = runner.invoke(app, ["routing", "evaluate", "--set", str(wrong)])
    assert refused.exit_code == 1
    assert "paspoort" in refused.output and "afvalcontainer" in refused.output
    assert "below threshold: product accuracy" in refused.stderr
