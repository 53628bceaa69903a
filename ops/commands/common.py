"""What every `eenloket` command shares: output, one-line errors, running a coroutine with
Kafka's failures turned into such an error, and the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from shared.settings import ServiceSettings

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

Bootstrap = Annotated[
    str | None,
    typer.Option(help="Kafka bootstrap servers (default: EENLOKET_KAFKA_BOOTSTRAP)."),
]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (OSError, TimeoutError) as exc:
        fail(f"cannot reach Kafka: {type(exc).__name__}: {exc}")
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            fail(f"Kafka: {type(exc).__name__}: {exc}")
        raise
    raise AssertionError("unreachable")


def settings(bootstrap: str | None) -> ServiceSettings:
    base = ServiceSettings()
    return base.model_copy(update={"kafka_bootstrap": bootstrap}) if bootstrap else base
