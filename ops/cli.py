"""`eenloket`: the operations command. Every command has examples in its --help.

Errors are one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ops import deadletters as dl
from shared.kafka.topics import ensure_topics
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from services.caseview.config import CaseviewSettings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics.")
dead_app = typer.Typer(no_args_is_help=True, help="The dead-letter topic.")
routing_app = typer.Typer(no_args_is_help=True, help="Routing files.")
caseview_app = typer.Typer(no_args_is_help=True, help="The caseview read models.")
tokens_app = typer.Typer(no_args_is_help=True, help="Development tokens.")
import_app = typer.Typer(no_args_is_help=True, help="Bulk import from an old CRM.")
app.add_typer(topics_app, name="topics")
app.add_typer(caseview_app, name="caseview")
app.add_typer(tokens_app, name="tokens")
app.add_typer(dead_app, name="deadletters")
app.add_typer(routing_app, name="routing")
app.add_typer(import_app, name="import")

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


def caseview_settings() -> CaseviewSettings:
    from pydantic import ValidationError

    from services.caseview.config import CaseviewSettings

    try:
        return CaseviewSettings()
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        fail(f"caseview configuration: {first['msg']}")
        raise  # unreachable: fail() exits


@caseview_app.command("rebuild")
def caseview_rebuild(
    no_switch: Annotated[
        bool, typer.Option("--no-switch", help="Build and compare, but keep the live tables.")
    ] = False,
    max_seconds: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 3600.0,
) -> None:
    """Replay omni.timeline.v1 from the start into fresh tables and switch over.

    Safe while caseview runs; prints the hash of the rebuilt and the live projection.
    Uses caseview's settings (EENLOKET_DATABASE_URL, EENLOKET_KAFKA_BOOTSTRAP, topics).

    Example: EENLOKET_DATABASE_URL=postgresql+asyncpg://…/caseview eenloket caseview rebuild
    """
    from rich.progress import Progress

    from services.caseview.rebuild import rebuild

    settings = caseview_settings()
    with Progress(console=err) as progress:
        task = progress.add_task("replaying the timeline", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        result = run(rebuild(settings, switch=not no_switch, timeout=max_seconds, progress=report))
    out.print(
        f"{result.events} events replayed in {result.seconds:.1f}s; "
        f"{'switched' if result.switched else 'not switched'}; "
        f"projection {'identical' if result.identical else 'DIFFERENT'} "
        f"(rebuilt {result.shadow_hash[:12]}, live {result.live_hash[:12]})"
    )
    if not result.identical and not result.switched:
        raise typer.Exit(2)


@tokens_app.command("mint")
def tokens_mint(
    user: Annotated[str, typer.Option(help="Opaque user id (the 'sub' claim).")],
    team: Annotated[list[str] | None, typer.Option(help="A team id (repeatable).")] = None,
    role: Annotated[
        list[str] | None, typer.Option(help="kcc, member, lead, integration or auditor.")
    ] = None,
    hours: Annotated[float, typer.Option(min=0.1, max=24)] = 8.0,
) -> None:
    """Print a caseview bearer token signed with the DEV-ONLY key (refused in production).

    Example: eenloket tokens mint --user medewerker-1 --team kcc --role kcc
    """
    from datetime import timedelta

    from services.caseview.auth import Role, mint_token

    settings = caseview_settings()
    if settings.environment == "production":
        fail("refusing to mint development tokens with EENLOKET_ENVIRONMENT=production")
    roles = role or []
    unknown = [r for r in roles if r not in {x.value for x in Role}]
    if unknown:
        fail(f"unknown role(s) {', '.join(unknown)}: use {', '.join(x.value for x in Role)}")
    token = mint_token(
        user,
        teams=team or [],
        roles=roles,
        ttl=timedelta(hours=hours),
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
    )
    out.print(token, highlight=False, soft_wrap=True)


@import_app.command("contacts")
def import_contacts(
    file: Annotated[Path, typer.Argument(help="The contacts: NDJSON (.ndjson/.jsonl) or CSV.")],
    format_: Annotated[
        str | None,
        typer.Option("--format", help="ndjson or csv (default: from the file name)."),
    ] = None,
    trust_verified: Annotated[
        bool,
        typer.Option(
            "--trust-verified",
            help="Import identifiers the old CRM lists under 'verified' as verified "
            "(they then link contacts to parties automatically). Default: all claimed.",
        ),
    ] = False,
    timezone: Annotated[
        str, typer.Option(help="Time zone of timestamps written without an offset.")
    ] = "Europe/Amsterdam",
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Reject file (NDJSON). Default: FILE.rejects.ndjson "
            "(FILE.dry-run.rejects.ndjson for a dry run)."
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint file for resuming. Default: FILE.checkpoint.json."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check every row and write rejects; publish nothing, keep no checkpoint.",
        ),
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Import contacts from an old CRM as message.received events on the inbound topic.

    Every valid row is published as ingest would publish it (original timestamp, same record key); the router links parties and cases. Bad rows go to the reject file with the reason.

    An interrupted run (Ctrl-C, a crash) resumes when started again with the same command: ids come from the file and the row number, so nothing is doubled. Schema, flags and the trust decision: docs/operations.md, "Bulk import".

    Examples: eenloket import contacts crm-export.ndjson --dry-run;  eenloket import contacts crm-export.csv --trust-verified
    """  # noqa: E501 - typer joins the lines of a paragraph; rich wraps them
    import signal
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pydantic import ValidationError
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from ops import importer
    from services.ingest.config import IngestSettings

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"unknown time zone '{timezone}' (e.g. Europe/Amsterdam, UTC)")
        return
    try:
        s = IngestSettings()
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        fail(f"configuration: {first['msg']}")
        return
    if bootstrap:
        s = s.model_copy(update={"kafka_bootstrap": bootstrap})
    try:
        fmt = importer.detect_format(file, format_)
        if not file.is_file():
            fail(f"no such file: {file}")
        if fmt == "csv":
            unknown = importer.check_csv_header(file)
            if unknown:
                err.print(f"ignoring unknown column(s): {', '.join(unknown)}", highlight=False)
    except importer.ImportFileError as exc:
        fail(str(exc))

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(
            "checking" if dry_run else "importing", total=file.stat().st_size, counts=""
        )

        def report(summary: importer.Summary) -> None:
            progress.update(
                task,
                completed=summary.bytes_done,
                counts=f"{summary.published:,} {'valid' if dry_run else 'published'} · "
                f"{summary.rejected:,} rejected · {summary.skipped:,} skipped · "
                f"{summary.per_second:,.0f}/s",
            )

        async def go() -> importer.Summary:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def interrupted() -> None:
                # First Ctrl-C: finish the chunk, wait for its acknowledgements, checkpoint.
                # A second one stops at once (the next run redoes the unacknowledged rows).
                stop.set()
                loop.remove_signal_handler(signal.SIGINT)
                err.print("stopping after the current chunk (Ctrl-C again to abort)")

            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                # Only the main thread may handle signals (not so when embedded, e.g. tests).
                loop.add_signal_handler(signal.SIGINT, interrupted)
                loop.add_signal_handler(signal.SIGTERM, stop.set)
            return await importer.import_to_kafka(
                file,
                bootstrap=s.kafka_bootstrap,
                topic=s.topic_inbound,
                source=s.source("eenloket-import"),
                key_secret=s.sender_key_secret.get_secret_value().encode(),
                dry_run=dry_run,
                fmt=fmt,
                options=importer.Options(trust_verified=trust_verified, timezone=zone),
                checkpoint_path=checkpoint,
                reject_path=rejects,
                progress=report,
                stop=stop,
            )

        try:
            summary = run(go())
        except importer.ImportFileError as exc:
            fail(str(exc))
            return

    checkpoint_path, reject_path = importer.default_paths(file, dry_run=dry_run)
    table = Table("", "rows", show_header=False)
    table.add_row("read", f"{summary.read:,}")
    table.add_row(
        "valid, not published (dry run)" if dry_run else "published", f"{summary.published:,}"
    )
    table.add_row("rejected", f"{summary.rejected:,}")
    table.add_row("skipped (done by an earlier run)", f"{summary.skipped:,}")
    table.add_row("rate", f"{summary.per_second:,.0f} contacts/s in {summary.seconds:.1f}s")
    if summary.resumed:
        table.add_row(
            "this file in total",
            f"{summary.total_published:,} published, {summary.total_rejected:,} rejected",
        )
    out.print(table)
    if summary.reject_reasons:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.reject_reasons.items()))
        out.print(f"rejected rows by field: {reasons}", highlight=False)
        out.print(f"rejects: {rejects or reject_path}", highlight=False)
    if summary.interrupted:
        out.print(
            f"interrupted; run the same command again to resume (checkpoint: "
            f"{checkpoint or checkpoint_path})",
            highlight=False,
        )
        raise typer.Exit(130)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
