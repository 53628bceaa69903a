"""`make demo`: Kafka, the three services on the embedded default (SQLite), a few messages,
and the unified history they produce. Runs until Ctrl-C (or ``--no-wait``)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from services.caseview.auth import mint_token
from shared.devstack import ROOT, SERVICES, run_services

LOCAL = ROOT / ".local" / "demo"
PORTAL_KEY = "demo-portal-key"
PORTS = {"ingest": 8001, "router": 8002, "caseview": 8003}

console = Console(width=None if sys.stdout.isatty() else 140)

# Caseview wants a bearer token: a DEV-ONLY token for a contact-centre employee who also
# works in werk-en-inkomen (so the social-domain case of the demo is shown, not redacted).
DEMO_TOKEN = mint_token("demo", teams=["kcc", "werk-en-inkomen"], roles=["kcc"])
CASEVIEW_AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}

# A resident logged in with DigiD (through the portal), and an unknown e-mail sender.
MESSAGES: list[dict[str, Any]] = [
    {
        "authenticated": True,
        "form": {
            "authentication": "digid",
            "bsn": "111222333",
            "name": "Fatima el Amrani",
            "subject": "Aanvraag bijstandsuitkering",
            "text": "Ik heb mijn baan verloren en wil bijstand aanvragen.",
            "product": "bijstandsuitkering",
        },
    },
    {
        "authenticated": True,
        "form": {
            "authentication": "digid",
            "bsn": "111222333",
            "name": "Fatima el Amrani",
            "subject": "Aanvulling: bankafschriften",
            "text": "Hierbij de gevraagde bankafschriften van de laatste drie maanden.",
            "product": "bijstandsuitkering",
        },
    },
    {
        "authenticated": False,
        "form": {
            "email": "bewoner@example.nl",
            "name": "J. de Vries",
            "subject": "Container niet geleegd",
            "text": "De groene container is deze week niet geleegd.",
            "product": "afval",
        },
    },
    {
        "authenticated": False,
        "form": {
            "email": "bewoner@example.nl",
            "name": "J. de Vries",
            "subject": "Re: Container niet geleegd",
            "text": "Nog steeds niet geleegd, wat kan ik doen?",
            "product": "afval",
        },
    },
]


def start_kafka() -> str:
    out = subprocess.run(  # noqa: S603
        ["bash", "deploy/local/kafka.sh", "start", "--dir", str(LOCAL / "kafka")],  # noqa: S607
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


def located(http: httpx.Client, caseview: str, message_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = http.get(f"{caseview}/v1/contacts/{message_id}", headers=CASEVIEW_AUTH)
        if r.status_code == 200:
            return r.json()
        time.sleep(0.1)
    raise RuntimeError(f"message {message_id} did not reach caseview within {timeout}s")


def show_timeline(http: httpx.Client, caseview: str, party_id: str) -> None:
    page = http.get(f"{caseview}/v1/parties/{party_id}/timeline", headers=CASEVIEW_AUTH).json()
    table = Table(title=f"Unified history of party {party_id}", show_lines=False)
    for column in ("seq", "time (UTC)", "event", "channel", "case", "owner", "subject / name"):
        table.add_column(column)
    for item in reversed(page["items"]):
        data = item["data"]
        table.add_row(
            str(item["sequence"]),
            item["occurred_at"][11:19],
            item["type"].removeprefix("nl.eenloket."),
            item["channel"] or "",
            data.get("case_number", ""),
            data.get("owner_team", ""),
            "(vertrouwelijk)"
            if item.get("redacted")
            else (data.get("subject") or data.get("display_name") or "")[:60],
        )
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-wait", action="store_true", help="stop after printing the history")
    args = parser.parse_args()

    console.rule("[bold]Eenloket demo")
    console.print("Starting Kafka (jars resolved through Maven on first use)...")
    bootstrap = start_kafka()
    console.print(f"Kafka ready at {bootstrap}")
    data = LOCAL / "data"
    env = {
        name: {
            "EENLOKET_ENVIRONMENT": "development",
            "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
            "EENLOKET_DATABASE_URL": f"sqlite+aiosqlite:///{data / name}.db",
            "EENLOKET_PORTAL_API_KEY": PORTAL_KEY,
        }
        for name in SERVICES
    }
    try:
        with run_services(env, LOCAL / "logs", ports=PORTS) as services:
            urls = {name: s.url for name, s in services.items()}
            console.print("Services ready: " + ", ".join(f"{n} {u}" for n, u in urls.items()))
            parties: list[str] = []
            with httpx.Client(timeout=10) as http:
                web_form = f"{urls['ingest']}/v1/channels/web"
                for m in MESSAGES:
                    headers = {"X-Api-Key": PORTAL_KEY} if m["authenticated"] else {}
                    r = http.post(web_form, json=m["form"], headers=headers)
                    r.raise_for_status()
                    where = located(http, urls["caseview"], r.json()["message_id"])
                    console.print(
                        f"[green]202[/green] web form '{m['form']['subject']}' -> "
                        f"party …{where['party_id'][-12:]}, case …{where['case_id'][-12:]}"
                    )
                    if where["party_id"] not in parties:
                        parties.append(where["party_id"])
                for party_id in parties:
                    show_timeline(http, urls["caseview"], party_id)
            if args.no_wait:
                return 0
            console.print(
                f"\nRunning. Try: curl -H 'Authorization: Bearer {DEMO_TOKEN}' "
                f"{urls['caseview']}/v1/parties/{parties[0]}/timeline\n"
                f"OpenAPI: {urls['ingest']}/docs and {urls['caseview']}/docs. "
                f"Logs in {(LOCAL / 'logs').relative_to(ROOT)}. Ctrl-C stops everything."
            )
            try:
                while all(s.process.poll() is None for s in services.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                console.print("\nStopping...")
    finally:
        stop_kafka()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
