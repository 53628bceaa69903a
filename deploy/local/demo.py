"""`make demo`: Kafka, Mailpit (the relay replies go to, with an inbox to look at), Keycloak
(the console's login; without it the dev login), the five
services on the embedded default (SQLite), and the scenarios of ``scenarios/data`` played
through the real ingest routes and SMTP receiver, with a summary per scenario (the unified
history, owners, handovers, what each team may see). Runs until Ctrl-C (or ``--no-wait``);
``--scenario tilburg`` plays one."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# `python deploy/local/demo.py`: the checkout first on the path (the scenarios package is not
# installed with the project yet).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rich.console import Console

from scenarios.model import Scenario, load_all
from scenarios.report import print_report, print_summary
from scenarios.runner import Runner
from scenarios.stack import ingest_env, key_exports, outbound_env, reply_domain
from services.caseview.auth import mint_token
from shared.demolock import DemoLock, DemoRefused, stop_on_signals
from shared.devstack import ROOT, SERVICES, run_services

PORT_BASE = 8001  # ingest 8001, router 8002, caseview 8003, outbound 8004, notifications 8005
SMTP_PORT = 2525
KEYCLOAK_PORT = 8180
REALM_FILE = ROOT / "deploy" / "keycloak" / "eenloket-realm.json"

console = Console(width=None if sys.stdout.isatty() else 160)


def local_script(script: str, command: str, where: Path, *extra: str) -> dict[str, str]:
    """``deploy/local/<script> <command> --dir <where>``: the ``NAME=value`` lines it printed."""
    out = subprocess.run(  # noqa: S603
        ["bash", f"deploy/local/{script}", command, "--dir", str(where), *extra],  # noqa: S607
        cwd=ROOT,
        check=command != "stop",
        capture_output=command != "stop",
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in (out or "").splitlines() if "=" in line)


def start_kafka(local: Path, *, fresh: bool) -> str:
    return local_script("kafka.sh", "start", local / "kafka", *(["--fresh"] if fresh else []))[
        "KAFKA_BOOTSTRAP"
    ]


def start_keycloak(local: Path, port: int) -> str | None:
    """Keycloak with the eenloket realm: its issuer, or None (and why) when it cannot start;
    the demo then keeps the development login."""
    try:
        url = local_script("keycloak.sh", "start", local / "keycloak", "--port", str(port))[
            "KEYCLOAK_URL"
        ]
    except (subprocess.CalledProcessError, KeyError) as exc:
        why = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[-3:]
        console.print(
            "[yellow]Keycloak did not start[/yellow] (the console keeps the development "
            "login):\n  " + "\n  ".join(why)
        )
        return None
    return f"{url}/realms/eenloket"


def keycloak_env(issuer: str) -> dict[str, str]:
    """Caseview trusting the realm (and, development only, the scenarios' dev tokens); the
    console logging in there with the realm's `console` client."""
    return {
        "EENLOKET_OIDC_ISSUER": issuer,
        "EENLOKET_OIDC_DISCOVERY": "true",
        "EENLOKET_OIDC_DEV_TOKENS_TOO": "true",
        "EENLOKET_CONSOLE_OIDC_ISSUER": issuer,
        "EENLOKET_CONSOLE_OIDC_CLIENT_ID": "console",
    }


def demo_users() -> list[str]:
    """The realm's staff users as 'user / password: teams, roles' (development passwords)."""
    realm = json.loads(REALM_FILE.read_text())
    lines = []
    for user in realm.get("users", []):
        name = user.get("username", "")
        roles = user.get("realmRoles") or []
        if name.startswith("service-account-") or not roles:
            continue  # the integrations client; residents (they use Mijn zaken)
        teams = ", ".join(g.strip("/") for g in user.get("groups", [])) or "geen team"
        lines.append(f"{name} / dev-{name}: {teams}; rol {', '.join(roles)}")
    return lines


def choose(all_scenarios: list[Scenario], wanted: list[str]) -> list[Scenario]:
    if not wanted:
        return all_scenarios
    by_name = {s.name: s for s in all_scenarios}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(by_name)}"
        )
    return [by_name[w] for w in wanted]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-wait", action="store_true", help="stop after the scenarios")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="play only this scenario (repeatable; e.g. tilburg, groningen)",
    )
    parser.add_argument("--brief", action="store_true", help="the script only, no histories")
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the databases and topics of the previous demo (default: start empty)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--dir",
        type=Path,
        default=ROOT / ".local" / "demo",
        help="where the demo keeps its broker, databases, logs and pids (default .local/demo)",
    )
    parser.add_argument(
        "--port-base", type=int, default=PORT_BASE, help="ingest's port; router +1, caseview +2"
    )
    parser.add_argument("--smtp-port", type=int, default=SMTP_PORT, help="ingest's SMTP port")
    parser.add_argument(
        "--keycloak-port", type=int, default=KEYCLOAK_PORT, help="Keycloak's port (the login)"
    )
    parser.add_argument(
        "--no-keycloak",
        action="store_true",
        help="no Keycloak: the console offers the development login",
    )
    return parser.parse_args()


def main() -> int:
    args = arguments()
    scenarios = load_all()
    if args.list:
        for s in scenarios:
            console.print(f"[bold]{s.name:<12}[/bold] {s.title} (lessen {s.lessons})")
        return 0
    chosen = choose(scenarios, args.scenario)
    local: Path = args.dir
    ports = {name: args.port_base + i for i, name in enumerate(SERVICES)}

    console.rule("[bold]Eenloket demo")
    # SIGTERM and SIGHUP stop the demo as Ctrl-C does: the finally blocks below stop the
    # services and Kafka it started.
    stop_on_signals()
    lock = DemoLock(local)
    try:
        # Not Keycloak's port: when it is taken, the demo runs on with the development login.
        for what in lock.claim([*ports.values(), args.smtp_port]):
            console.print(f"Stopped {what}.")
    except DemoRefused as refused:
        console.print(f"[red]The demo does not start:[/red] {refused}")
        return 2
    try:
        return 1 if play(args, local, ports, scenarios, chosen, lock) else 0
    except KeyboardInterrupt:
        console.print("\nStopped.")
        return 130
    finally:
        lock.release()


def play(
    args: argparse.Namespace,
    local: Path,
    ports: dict[str, int],
    scenarios: list[Scenario],
    chosen: list[Scenario],
    lock: DemoLock,
) -> bool:
    """Kafka, the services, the scenarios; then wait for Ctrl-C. True when a scenario failed."""
    data = local / "data"
    if not args.keep_data:
        # A fresh start: databases of an older checkout may predate an edited migration, and
        # the topics would replay old runs into the new databases.
        for name in SERVICES:
            for suffix in ("", "-wal", "-shm"):
                (data / f"{name}.db{suffix}").unlink(missing_ok=True)
    console.print("Starting Kafka (jars resolved through Maven on first use) and Mailpit...")
    try:
        bootstrap = start_kafka(local, fresh=not args.keep_data)
        console.print(f"Kafka ready at {bootstrap}")
        mailpit = local_script("mailpit.sh", "start", local / "mailpit")
        console.print(f"Mailpit ready: the residents' inbox is {mailpit['MAILPIT_HTTP']}")
        issuer = None
        if not args.no_keycloak:
            console.print("Starting Keycloak (fetched and built on first use, a minute)...")
            issuer = start_keycloak(local, args.keycloak_port)
            if issuer:
                console.print(f"Keycloak ready: the realm is {issuer}")
        env = {
            name: {
                "EENLOKET_ENVIRONMENT": "development",
                "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
                "EENLOKET_DATABASE_URL": f"sqlite+aiosqlite:///{data / name}.db",
            }
            for name in SERVICES
        }
        # Every mail domain of every scenario, so any of them can be played against this stack.
        env["ingest"].update(
            ingest_env(smtp_port=args.smtp_port, mail_domains=[s.mail_domain for s in scenarios])
        )
        if issuer:
            env["caseview"].update(keycloak_env(issuer))
        env["outbound"].update(
            outbound_env(mailpit["MAILPIT_SMTP"], reply_domain(scenarios), local / "print")
        )
        # No notification component: notifications are recorded, not sent (docs/notificaties.md);
        # they point at this demo's caseview.
        caseview = f"http://127.0.0.1:{ports['caseview']}"
        env["notifications"].update(
            {
                "EENLOKET_CASEVIEW_URL": f"{caseview}/v1",
                "EENLOKET_KLANTINTERACTIES_URL": f"{caseview}/klantinteracties/api/v1",
            }
        )
        logs = local / "logs"
        with run_services(env, logs, ports=ports, on_start=lock.record_services) as services:
            urls = {name: s.url for name, s in services.items()}
            console.print(
                "Services ready: "
                + ", ".join(f"{n} {u}" for n, u in urls.items())
                + f", SMTP 127.0.0.1:{args.smtp_port}"
            )
            runner = Runner(
                ingest=urls["ingest"],
                caseview=urls["caseview"],
                smtp=("127.0.0.1", args.smtp_port),
                mailpit=mailpit["MAILPIT_HTTP"],
            )
            reports = []
            with runner.http:
                for scenario in chosen:
                    report = runner.play(scenario)
                    print_report(report, console, verbose=not args.brief)
                    reports.append(report)
            console.rule("[bold]Samenvatting")
            print_summary(reports, console)
            failed = not all(r.passed for r in reports)
            if not args.no_wait:
                print_how_to_use(urls, args.smtp_port, logs, mailpit["MAILPIT_HTTP"], issuer)
                while all(s.process.poll() is None for s in services.values()):
                    time.sleep(1)
            return failed
    finally:
        if not args.no_keycloak:
            local_script("keycloak.sh", "stop", local / "keycloak")
        local_script("mailpit.sh", "stop", local / "mailpit")
        local_script("kafka.sh", "stop", local / "kafka")


def print_how_to_use(
    urls: dict[str, str], smtp_port: int, logs: Path, inbox: str, issuer: str | None
) -> None:
    token = mint_token("demo", teams=["kcc"], roles=["kcc"])
    console.print(
        "\n[bold]Integration keys[/bold] (DEV-ONLY; every channel route needs its key, as in "
        "production; docs/channels.md's examples use these variables):"
    )
    for line in key_exports():
        console.print(f"  {line}", soft_wrap=True)
    console.print(f"\n[bold]Console:[/bold] {urls['caseview']}/console/")
    if issuer:
        console.print(f'Log in with "Inloggen" (Keycloak, {issuer}) as one of these:')
        for line in demo_users():
            console.print(f"  {line}", soft_wrap=True)
    else:
        console.print("Log in with the development login (kies een medewerker).")
    console.print("Or paste a DEV-ONLY token for a contact-centre employee (8 h):")
    # Unwrapped, so it can be copied whole from any terminal width.
    console.print(f"  {token}", soft_wrap=True)
    console.print(
        "Others: .venv/bin/eenloket tokens mint --user u-1 "
        "--team werk-en-inkomen --role member\n"
        f"OpenAPI: {urls['ingest']}/docs and {urls['caseview']}/docs. "
        f"Send mail: swaks --server 127.0.0.1:{smtp_port} --to info@gemeente.example "
        f"… Replies to residents arrive in Mailpit: {inbox}. "
        f"Logs in {logs}. Ctrl-C (or SIGTERM) stops everything."
    )


if __name__ == "__main__":
    sys.exit(main())
