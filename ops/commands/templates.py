"""`eenloket templates`: checking a reply templates file before it is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.commands.common import fail, out

templates_app = typer.Typer(no_args_is_help=True, help="Reply templates.")


@templates_app.command("check")
def templates_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="The templates file (YAML; default: deploy/templates.yaml)."),
    ] = None,
) -> None:
    """Validate a templates file: every template renders with sample values in the sandbox.

    Exit code 0: valid; 1: not valid (the reasons on stderr, one line).

    Example: eenloket templates check deploy/templates.yaml
    """
    from services.caseview.config import DEFAULT_TEMPLATES_FILE
    from services.caseview.replies.templates import TemplatesFileError, load_templates

    try:
        templates = load_templates(file or DEFAULT_TEMPLATES_FILE)
    except TemplatesFileError as exc:
        fail(str(exc))
        return
    spec = templates.spec
    out.print(
        f"[green]valid[/green]: version {spec.version}, {len(spec.templates)} templates "
        f"({', '.join(templates.names())})"
    )
    table = Table("name", "product", "channel", "subject")
    for t in spec.templates:
        table.add_row(t.name, t.product, t.channel.value, t.subject or "—")
    out.print(table)
