"""Routing accuracy on the labelled set (tests/routing_eval, docs/routing.md "Measuring
accuracy"): the build fails when a figure misses issue #23's targets."""

from services.router.routing.evaluate import evaluate, load_set, misroute_rows, summary
from services.router.routing.rules import load_routing


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
