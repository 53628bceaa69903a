"""`make demo`: Kafka, the three services on the embedded default (SQLite), and the scenarios
of ``scenarios/data`` played through the real ingest routes and SMTP receiver, with a
summary per scenario (the unified history, owners, handovers, what each team may see).
Runs until Ctrl-C (or ``--no-wait``); ``--scenario tilburg`` plays one."""

from __future__ import annotations

import argparse
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
from scenarios.runner import Runner, ingest_env
from services.caseview.auth import mint_token
from shared.devstack import ROOT, SERVICES, run_services

LOCAL = ROOT / ".local" / "demo"
PORTS = {"ingest": 8001, "router": 8002, "caseview": 8003}
SMTP_PORT = 2525

console = Console(width=None if sys.stdout.isatty() else 160)


def start_kafka(*, fresh: bool) -> str:
    command = ["bash", "deploy/local/kafka.sh", "start", "--dir", str(LOCAL / "kafka")]
    out = subprocess.run(  # noqa: S603
        command + (["--fresh"] if fresh else []),
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1].split("=", 1)[1]


def stop_kafka() -> None:
    subprocess.run(  # noqa: S603
        ["bash", "deploy/local/kafka.sh", "stop", "--dir", str(LOCAL / "kafka")],  # noqa: S607
        cwd=ROOT,
        check=False,
    )


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


def main() -> int:
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
    args = parser.parse_args()

    scenarios = load_all()
    if args.list:
        for s in scenarios:
            console.print(f"[bold]{s.name:<12}[/bold] {s.title} (lessen {s.lessons})")
        return 0
    chosen = choose(scenarios, args.scenario)

    console.rule("[bold]Eenloket demo")
    console.print("Starting Kafka (jars resolved through Maven on first use)...")
    data = LOCAL / "data"
    if not args.keep_data:
        # A fresh start: databases of an older checkout may predate an edited migration, and
        # the topics would replay old runs into the new databases.
        for name in SERVICES:
            for suffix in ("", "-wal", "-shm"):
                (data / f"{name}.db{suffix}").unlink(missing_ok=True)
    bootstrap = start_kafka(fresh=not args.keep_data)
    console.print(f"Kafka ready at {bootstrap}")
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
        ingest_env(smtp_port=SMTP_PORT, mail_domains=[s.mail_domain for s in scenarios])
    )
    failed = False
    try:
        with run_services(env, LOCAL / "logs", ports=PORTS) as services:
            urls = {name: s.url for name, s in services.items()}
            console.print(
                "Services ready: "
                + ", ".join(f"{n} {u}" for n, u in urls.items())
                + f", SMTP 127.0.0.1:{SMTP_PORT}"
            )
            runner = Runner(
                ingest=urls["ingest"], caseview=urls["caseview"], smtp=("127.0.0.1", SMTP_PORT)
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
            if args.no_wait:
                return 1 if failed else 0
            token = mint_token("demo", teams=["kcc"], roles=["kcc"])
            console.print(
                f"\n[bold]Console:[/bold] {urls['caseview']}/console\n"
                f"A DEV-ONLY token for a contact-centre employee (8 h):\n  {token}\n"
                "Others: .venv/bin/python -m services.caseview mint-token --user u-1 "
                "--team werk-en-inkomen --role member\n"
                f"OpenAPI: {urls['ingest']}/docs and {urls['caseview']}/docs. "
                f"Send mail: swaks --server 127.0.0.1:{SMTP_PORT} --to info@gemeente.example "
                f"… Logs in {(LOCAL / 'logs').relative_to(ROOT)}. Ctrl-C stops everything."
            )
            try:
                while all(s.process.poll() is None for s in services.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                console.print("\nStopping...")
    finally:
        stop_kafka()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
