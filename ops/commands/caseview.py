"""`eenloket caseview rebuild` and `eenloket tokens mint`: caseview's operations (the
service itself, `python -m services.caseview`, only migrates, serves and prints its
OpenAPI document)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ops.commands.common import err, fail, out, run

if TYPE_CHECKING:
    from services.caseview.config import CaseviewSettings

caseview_app = typer.Typer(no_args_is_help=True, help="The caseview read models.")
tokens_app = typer.Typer(no_args_is_help=True, help="Development tokens.")


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
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", "--timeout", help="Give up after this many seconds.")
    ] = 3600.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Switch even when the rebuilt projection differs from the live one."
        ),
    ] = False,
    wait_for_live: Annotated[
        float,
        typer.Option(
            "--wait-for-live",
            help="How long the live projector may take to reach the rebuild before they are "
            "compared; when it does not (caseview not projecting), nothing is switched "
            "unless --force.",
        ),
    ] = 30.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for scripts).")
    ] = False,
) -> None:
    """Replay omni.timeline.v1 from the start into fresh tables and switch over.

    Safe while caseview runs; compares the rebuilt and the live projection per table (rows only rebuilt, only live, changed; the first keys) before it switches, and does not switch on a difference unless --force (after a projector fix a difference is the point: run --no-switch first, read it, then --force). Exit code 0: identical; 1: it differed and was replaced (--force); 2: it differed and was kept (--no-switch, or refused).
    Uses caseview's settings (EENLOKET_DATABASE_URL, EENLOKET_KAFKA_BOOTSTRAP, topics).

    Example: EENLOKET_DATABASE_URL=postgresql+asyncpg://…/caseview eenloket caseview rebuild
    """  # noqa: E501 - typer joins the lines of a paragraph; rich wraps them
    from rich.progress import Progress

    from services.caseview.rebuild import rebuild

    settings = caseview_settings()
    with Progress(console=err) as progress:
        task = progress.add_task("replaying the timeline", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        result = run(
            rebuild(
                settings,
                switch=not no_switch,
                force=force,
                settle=wait_for_live,
                timeout=max_seconds,
                progress=report,
            )
        )
    differed = bool(result.differences) or not result.identical
    if as_json:
        report_json = {
            "switched": result.switched,
            "refused": result.refused,
            "live_behind": result.live_behind,
            "events": result.events,
            "seconds": result.seconds,
            "shadow_hash": result.shadow_hash,
            "live_hash": result.live_hash,
            "identical": not differed,
            "differences": [
                {
                    "table": d.table,
                    "only_rebuilt": d.only_rebuilt,
                    "only_live": d.only_live,
                    "changed": d.changed,
                    "first": list(d.first),
                    "columns": list(d.columns),
                }
                for d in result.differences
            ],
        }
        typer.echo(json.dumps(report_json, indent=2))
    else:
        state = "switched" if result.switched else "not switched"
        if result.live_behind:
            state = (
                "NOT switched: the live projection is behind the rebuild (is caseview "
                "projecting?); --force replaces it"
            )
        elif result.refused:
            state = "NOT switched: the projections differ (--force to replace the live one)"
        out.print(
            f"{result.events} events replayed in {result.seconds:.1f}s; {state}; "
            f"projection {'DIFFERENT' if differed else 'identical'} "
            f"(rebuilt {result.shadow_hash[:12]}, live {result.live_hash[:12]})"
        )
        for difference in result.differences:
            out.print(f"  {difference.describe()}", highlight=False)
    if differed:
        # A difference is worth a look either way: replaced (1) or still live (2).
        raise typer.Exit(1 if result.switched else 2)


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
