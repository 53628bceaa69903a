"""``python -m services.caseview migrate|serve|openapi|rebuild|mint-token``.

``migrate``, ``serve`` and ``openapi`` are every service's (shared/service.py);
``rebuild`` and ``mint-token`` are caseview's own and handled here first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from typing import cast

from fastapi import FastAPI

from services.caseview.auth import Role, mint_token
from services.caseview.bootstrap import MIGRATIONS, create_app
from services.caseview.config import CaseviewSettings
from services.caseview.rebuild import RebuildReport, rebuild
from shared.logging import setup_logging
from shared.service import service_main
from shared.settings import ServiceSettings

OWN_COMMANDS = ("rebuild", "mint-token")


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(cast(CaseviewSettings, settings))


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rreplayed {done}/{total} records")
    sys.stderr.flush()


def run_rebuild(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="eenloket-caseview rebuild",
        description="Replay omni.timeline.v1 from offset 0 into fresh tables and switch over.",
    )
    parser.add_argument(
        "--no-switch",
        action="store_true",
        help="build and hash the shadow only; the live read model stays as it is",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds (default 3600)")
    args = parser.parse_args(argv)
    settings = CaseviewSettings()
    setup_logging("eenloket-caseview", settings.log_level)
    report: RebuildReport = asyncio.run(
        rebuild(settings, switch=not args.no_switch, timeout=args.timeout, progress=_progress)
    )
    sys.stderr.write("\n")
    json.dump(
        {
            "switched": report.switched,
            "events": report.events,
            "seconds": report.seconds,
            "shadow_hash": report.shadow_hash,
            "live_hash": report.live_hash,
            "identical": report.identical,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0 if report.identical or not report.switched else 1


def run_mint_token(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="eenloket-caseview mint-token",
        description="Print a DEV-ONLY bearer token signed with services/caseview/devkeys.",
    )
    parser.add_argument("--user", required=True, help="opaque user id (the 'sub' claim)")
    parser.add_argument("--team", action="append", default=[], help="a team id (repeatable)")
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        choices=[r.value for r in Role],
        help="a role (repeatable)",
    )
    parser.add_argument("--hours", type=float, default=8.0, help="validity (default 8)")
    args = parser.parse_args(argv)
    settings = CaseviewSettings()
    if settings.environment == "production":
        parser.error("refusing to mint dev tokens with EENLOKET_ENVIRONMENT=production")
    token = mint_token(
        args.user,
        teams=args.team,
        roles=args.role,
        ttl=timedelta(hours=args.hours),
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
    )
    sys.stdout.write(token + "\n")
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in OWN_COMMANDS:
        command, rest = sys.argv[1], sys.argv[2:]
        sys.exit(run_rebuild(rest) if command == "rebuild" else run_mint_token(rest))
    service_main(
        name="caseview",
        settings_factory=CaseviewSettings,
        app_factory=_app,
        migrations=MIGRATIONS,
        database_url=lambda s: cast(CaseviewSettings, s).database_url,
    )


if __name__ == "__main__":
    main()
