"""`eenloket topics` and `eenloket deadletters`: the Kafka side of operations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ops import deadletters as dl
from ops.commands.common import Bootstrap, fail, out, run, settings
from shared.kafka.topics import ensure_topics

topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics.")
dead_app = typer.Typer(no_args_is_help=True, help="The dead-letter topic.")


@topics_app.command("ensure")
def topics_ensure(
    bootstrap: Bootstrap = None,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Partitions of the hot topics.")
    ] = None,
    replication_factor: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Create the Eenloket topics that are missing (idempotent).

    Example: eenloket topics ensure --bootstrap 127.0.0.1:9092 --partitions 12
    """
    s = settings(bootstrap)
    if partitions:
        s = s.model_copy(update={"topic_partitions": partitions})
    specs = s.topic_specs()
    rf = replication_factor or s.kafka_replication_factor
    created = run(ensure_topics(s.kafka_bootstrap, specs, replication_factor=rf))
    table = Table("topic", "partitions", "retention", "state")
    for spec in specs:
        retention = (
            "forever"
            if spec.retention_ms == -1
            else f"{(spec.retention_ms or 0) / 86_400_000:g} days"
        )
        table.add_row(
            spec.name,
            str(spec.partitions),
            retention,
            "created" if spec.name in created else "exists",
        )
    out.print(table)


@dead_app.command("list")
def deadletters_list(bootstrap: Bootstrap = None) -> None:
    """List dead letters: where they came from and why (never their contents).

    Example: eenloket deadletters list
    """
    s = settings(bootstrap)
    letters = run(dl.read(s.kafka_bootstrap, s.topic_deadletter))
    table = Table("offset", "source", "reason", "error", "when")
    for d in letters:
        source = d.source
        table.add_row(
            str(d.offset),
            f"{source[0]}[{source[1]}]@{source[2]}" if source else "?",
            d.headers.get("dlt.reason", "?"),
            d.headers.get("dlt.error.type", "?"),
            d.headers.get("dlt.time", "")[:19],
        )
    out.print(table)
    out.print(f"{len(letters)} dead letter(s) on {s.topic_deadletter}")


@dead_app.command("show")
def deadletters_show(
    offset: Annotated[int, typer.Argument(help="Offset on the dead-letter topic.")],
    bootstrap: Bootstrap = None,
    value: Annotated[
        bool, typer.Option("--value", help="Also print the record (may contain personal data).")
    ] = False,
) -> None:
    """Show one dead letter's error and origin; --value prints the record itself.

    Example: eenloket deadletters show 42 --value
    """
    s = settings(bootstrap)
    letter = next(
        (d for d in run(dl.read(s.kafka_bootstrap, s.topic_deadletter)) if d.offset == offset), None
    )
    if letter is None:
        fail(f"no dead letter at offset {offset} on {s.topic_deadletter}")
        return
    for k, v in sorted(letter.headers.items()):
        out.print(f"{k}: {v}", highlight=False)
    out.print(f"size: {len(letter.value or b'')} bytes")
    if value:
        out.print((letter.value or b"").decode("utf-8", "replace"), highlight=False)


@dead_app.command("replay")
def deadletters_replay(
    offsets: Annotated[list[int] | None, typer.Argument(help="Offsets to replay.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be sent.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Send dead letters back to their source topic after the cause is fixed.

    The same bytes, key and headers go back; consumers apply each event id once, so a
    second replay is harmless.

    Examples: eenloket deadletters replay 3 4 --dry-run;  eenloket deadletters replay --all
    """
    if not offsets and not all_:
        fail("name offsets to replay, or --all")
    s = settings(bootstrap)
    letters = run(dl.read(s.kafka_bootstrap, s.topic_deadletter))
    chosen = letters if all_ else [d for d in letters if d.offset in set(offsets or [])]
    missing = set(offsets or []) - {d.offset for d in chosen}
    if missing:
        fail(f"no dead letter at offset(s) {', '.join(map(str, sorted(missing)))}")
    for d in chosen:
        source = d.source
        target = f"{source[0]}" if source else "? (no source header: skipped)"
        out.print(f"{'would replay' if dry_run else 'replay'} offset {d.offset} -> {target}")
    if not dry_run:
        sent = run(dl.replay(s.kafka_bootstrap, chosen))
        out.print(f"replayed {sent} record(s)")
