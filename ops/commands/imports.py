"""`eenloket import contacts`: the bulk import of an old CRM's contacts (ops/importer/)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.commands.common import Bootstrap, err, fail, out, run

import_app = typer.Typer(no_args_is_help=True, help="Bulk import from an old CRM.")


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
