"""`eenloket`: the operations command. Every command has examples in its --help.

Errors are one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import sys

import typer

from ops.commands.caseview import caseview_app, tokens_app
from ops.commands.imports import import_app
from ops.commands.kafka import dead_app, topics_app
from ops.commands.keys import keys_app
from ops.commands.routing import routing_app
from ops.commands.templates import templates_app
from shared.version import version

# The commands live in ops/commands/, one module per area; here they are put together.
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(topics_app, name="topics")
app.add_typer(caseview_app, name="caseview")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(dead_app, name="deadletters")
app.add_typer(routing_app, name="routing")
app.add_typer(templates_app, name="templates")
app.add_typer(import_app, name="import")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"eenloket {version()}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the project's version (pyproject.toml) and exit.",
    ),
) -> None:
    """The options before any command."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
