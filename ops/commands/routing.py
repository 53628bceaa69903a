"""`eenloket routing`: checking a routing file before it is deployed, and measuring how
often it routes a labelled set of messages right."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.commands.common import err, fail, out

routing_app = typer.Typer(no_args_is_help=True, help="Routing files.")


@routing_app.command("check")
def routing_check(
    file: Annotated[Path, typer.Argument(help="The routing file (YAML).")],
    text: Annotated[
        list[str] | None,
        typer.Option("--text", "-t", help="A sample text to classify (repeatable)."),
    ] = None,
) -> None:
    """Validate a routing file and show how sample texts would be routed.

    Example: eenloket routing check services/router/routing/default.yaml -t "kliko niet geleegd"
    """
    from services.router.routing.rules import RoutingFileError, load_routing

    try:
        routing = load_routing(file)
    except RoutingFileError as exc:
        fail(str(exc))
        return
    spec = routing.spec
    out.print(
        f"[green]valid[/green]: version {spec.version}, {len(spec.products)} products, "
        f"{len(spec.teams)} teams, default owner {spec.default_team}"
    )
    samples = text or [
        "Wij organiseren een festival in het park",
        "Mijn kliko is niet geleegd",
        "Ik ben verhuisd",
        "Goedemiddag, een vraag",
    ]
    table = Table("text", "product", "owner", "rule", "matched", "candidates / also named")
    for sample in samples:
        match = routing.classify(hint=None, text=sample)
        table.add_row(
            sample,
            match.product.upl if match.product else "—",
            routing.owner_of(match.product),
            match.rule,
            ", ".join(match.matched),
            "; ".join(match.candidates),
        )
    out.print(table)


@routing_app.command("evaluate")
def routing_evaluate(
    labelled: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help="The labelled messages: a directory of YAML files or one file "
            "(default: tests/routing_eval).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="The routing file (default: the shipped one)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The figures as JSON.")] = False,
    wrong: Annotated[
        bool, typer.Option("--wrong", help="List every wrongly routed message with its words.")
    ] = False,
) -> None:
    """Route a labelled set through the real router (in memory) and report product and team
    accuracy, wrong-case joins, the KCC fallback and a confusion table of the misroutes.
    Exits 1 when a figure misses its threshold (docs/routing.md, "Measuring accuracy").

    Example: eenloket routing evaluate --file my-routing.yaml --wrong
    """
    import asyncio
    import json

    from services.router.routing.evaluate import (
        DEFAULT_SET,
        evaluate,
        load_set,
        misroute_rows,
        summary,
    )
    from services.router.routing.rules import DEFAULT_FILE, RoutingFileError, load_routing

    try:
        routing = load_routing(file or DEFAULT_FILE)
        the_set = load_set(labelled or DEFAULT_SET)
    except (RoutingFileError, ValueError, OSError) as exc:
        fail(str(exc))
        return
    report = asyncio.run(evaluate(the_set, routing))
    default = routing.default_team
    failures = report.failures(default)
    if json_out:
        figures = report.figures(default) | {"failures": failures}
        figures["misroutes"] = [
            {"expected": e, "routed": r, "count": n, "messages": ids}
            for e, r, n, ids in misroute_rows(report)
        ]
        out.print_json(json.dumps(figures))
    else:
        for line in summary(report, default):
            out.print(line, highlight=False)
        table = Table("expected product", "routed product", "n", "messages", title="misroutes")
        for e, r, n, ids in misroute_rows(report):
            table.add_row(e, r, str(n), ids)
        out.print(table)
        if wrong:
            for o in report.outcomes:
                if o.product != o.message.product or o.wrong_join or o.missed_join:
                    out.print(
                        f"{o.message.id}: {o.product or '—'} ({o.team}, {o.case_rule}) "
                        f"matched {o.matched}: {o.owner_detail}",
                        highlight=False,
                    )
    for failure in failures:
        err.print(f"[bold red]below threshold:[/bold red] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)


@routing_app.command("integrity")
def routing_integrity() -> None:
    """Count the router's rows that refer to a party or case that does not exist (the checks
    PostgreSQL no longer makes per row, migration 0008). Exit 1 if any: report it as a bug.

    Reads EENLOKET_DATABASE_URL as the router does."""
    import asyncio

    from services.router.config import RouterSettings
    from services.router.integrity import orphans
    from shared.db.engine import create_engine, session_factory

    async def count() -> dict[str, int]:
        engine = create_engine(RouterSettings().database_url)
        try:
            async with session_factory(engine)() as session:
                return await orphans(session)
        finally:
            await engine.dispose()

    found = asyncio.run(count())
    table = Table("refers", "rows referring to nothing")
    for name, n in found.items():
        table.add_row(name, str(n))
    out.print(table)
    if any(found.values()):
        fail("rows refer to parties or cases that do not exist: a bug, please report it")
