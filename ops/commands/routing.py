"""`eenloket routing`: checking a routing file before it is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.commands.common import fail, out

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
    table = Table("text", "product", "owner", "rule", "matched")
    for sample in samples:
        match = routing.classify(hint=None, text=sample)
        table.add_row(
            sample,
            match.product.upl if match.product else "—",
            routing.owner_of(match.product),
            match.rule,
            ", ".join(match.matched),
        )
    out.print(table)
