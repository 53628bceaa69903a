"""Open-loop load for the end-to-end run: a fixed arrival rate of mixed-channel messages,
sent by ``vegeta`` (compiled Go) so the generator does not take the services' CPU.

The mix: web forms (70 %), raw e-mail over HTTP from the mail gateway (10 %), app
messages (10 %), chat messages (5 %) and call records (5 %). Senders write again: a
population of senders where a few write often and most write once or twice
(index = population x U^2), each sender with one e-mail address, name and mobile
number, so parties and cases repeat (a phone call reaches the party of that number).
Every request is unique (its own channel message id), so none is an idempotent
duplicate.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.ingest_stage import MAX_CONNECTIONS, vegeta
from bench.workload import TEXTS

MIX = (("web", 70), ("email", 10), ("app", 10), ("chat", 5), ("phone", 5))
FIRST = ["Anna", "Mohamed", "Sanne", "Daan", "Fatima", "Lucas", "Emma", "Yusuf", "Julia", "Bram"]
LAST = ["de Vries", "Jansen", "el Amrani", "Bakker", "Visser", "Yilmaz", "Smit", "Meijer"]


@dataclass(frozen=True)
class Sender:
    email: str
    name: str
    phone: str


def population(count: int, seed: int = 5) -> list[Sender]:
    rng = random.Random(seed)
    return [
        Sender(
            email=f"inwoner{n}@example.nl",
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            phone=f"+3161{n % 10_000_000:07d}",
        )
        for n in range(count)
    ]


def _target(url: str, path: str, body: bytes, content_type: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": f"{url}/v1/channels/{path}",
        "header": {"Content-Type": [content_type]},
        "body": base64.b64encode(body).decode(),
    }


def _json(url: str, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    return _target(url, path, json.dumps(doc).encode(), "application/json")


def request(url: str, channel: str, sender: Sender, rng: random.Random) -> dict[str, Any]:
    subject, text = rng.choice(TEXTS)
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat()
    own_id = uuid.uuid4().hex
    if channel == "web":
        return _json(
            url,
            "web",
            {"email": sender.email, "name": sender.name, "subject": subject, "text": text},
        )
    if channel == "email":
        mail = EmailMessage()
        mail["From"] = f"{sender.name} <{sender.email}>"
        mail["To"] = "info@gemeente.example.nl"
        mail["Subject"] = subject
        mail["Message-ID"] = f"<{own_id}@mail.example.nl>"
        mail["Date"] = now.strftime("%a, %d %b %Y %H:%M:%S +0000")
        mail.set_content(text)
        return _target(url, "email", bytes(mail), "message/rfc822")
    if channel == "app":
        return _json(
            url,
            "app",
            {
                "message_id": own_id,
                "conversation_id": f"conv-{sender.email}",
                "sent_at": stamp,
                "party": {"name": sender.name, "email": sender.email},
                "subject": subject,
                "text": text,
            },
        )
    if channel == "chat":
        return _json(
            url,
            "chat",
            {
                "type": "message",
                "event_id": own_id,
                "session_id": f"s-{uuid.uuid4().hex[:12]}",
                "occurred_at": stamp,
                "visitor": {"name": sender.name, "email": sender.email},
                "text": text,
            },
        )
    return _json(
        url,
        "phone",
        {
            "call_id": own_id,
            "caller_number": sender.phone,
            "called_line": "14 013",
            "started_at": (now - timedelta(minutes=4)).isoformat(),
            "ended_at": stamp,
            "caller_name": sender.name,
            "subject": subject,
            "agent_notes": text,
        },
    )


def write_targets(path: Path, url: str, count: int, senders: list[Sender], seed: int) -> None:
    """``count`` vegeta targets (JSON lines), the channel mix drawn at random."""
    rng = random.Random(seed)
    channels = [c for c, _ in MIX]
    weights = [w for _, w in MIX]
    with path.open("w") as out:
        for _ in range(count):
            sender = senders[int(len(senders) * rng.random() ** 2)]
            channel = rng.choices(channels, weights)[0]
            out.write(json.dumps(request(url, channel, sender, rng)) + "\n")


@dataclass
class Attack:
    results: Path  # vegeta's binary results
    started_at: float  # wall clock, s
    seconds: float
    cpu_seconds: float  # vegeta's own user + system time


def attack(targets: Path, rate: int, seconds: float, results: Path) -> Attack:
    """Send the targets at ``rate`` per second for ``seconds`` (open loop: new requests go
    out on schedule whatever the answers do), recording each result."""
    started = time.time()
    with targets.open("rb") as stdin, results.open("wb") as stdout:
        proc = subprocess.Popen(  # noqa: S603
            [
                vegeta(),
                "attack",
                "-format=json",
                "-lazy",
                f"-rate={rate}/s",
                f"-duration={seconds}s",
                "-timeout=10s",
                "-keepalive=true",
                f"-max-connections={MAX_CONNECTIONS}",
            ],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"vegeta attack exited {proc.returncode}")
    return Attack(
        results=results,
        started_at=started,
        seconds=time.time() - started,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


@dataclass
class Sent:
    accepted: dict[str, float]  # message id -> wall time the 202 arrived
    submitted: dict[str, float]  # message id -> wall time its request went out
    sent: int
    errors: dict[str, int]  # status code (or "error") -> count
    ack_latencies_ms: list[float]


def read_results(results: Path) -> Sent:
    """Each request: its 202's message id and when the answer arrived (start + latency)."""
    out = subprocess.run(  # noqa: S603
        [vegeta(), "encode", "--to=json", str(results)], check=True, capture_output=True
    ).stdout
    accepted: dict[str, float] = {}
    submitted: dict[str, float] = {}
    errors: dict[str, int] = {}
    latencies = []
    sent = 0
    for line in out.splitlines():
        r = json.loads(line)
        sent += 1
        if r["code"] == 202:
            started = datetime.fromisoformat(r["timestamp"]).timestamp()
            message_id = json.loads(base64.b64decode(r["body"]))["message_id"]
            accepted[message_id] = started + r["latency"] / 1e9
            submitted[message_id] = started
            latencies.append(r["latency"] / 1e6)
        else:
            key = str(r["code"]) if r["code"] else "error"
            errors[key] = errors.get(key, 0) + 1
    return Sent(
        accepted=accepted,
        submitted=submitted,
        sent=sent,
        errors=errors,
        ack_latencies_ms=latencies,
    )
