"""Ingest stage: accepted web forms per second on one process (keep-alive, wrk), the latency
at half that rate (open loop, fixed arrival rate), and SMTP messages per second."""

from __future__ import annotations

import asyncio
import re
import smtplib
import statistics
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx

from shared.devstack import free_port, run_services

HERE = Path(__file__).parent


@dataclass
class IngestResult:
    accepted_per_second: float
    non_2xx: int
    half_rate: float
    half_rate_p50_ms: float
    half_rate_p99_ms: float
    half_rate_errors: int
    smtp_per_second: float


def wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(HERE / "webform.lua"), url],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


async def open_loop(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Send at a fixed arrival rate regardless of how fast answers come (no coordinated
    omission): each request's latency counts from when it was due."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as http:

        async def one(n: int, due: float) -> None:
            nonlocal errors
            body = {
                "email": f"inwoner{n % 500}@example.nl",
                "subject": "Vraag",
                "text": f"Vraag {n}",
            }
            try:
                r = await http.post("/v1/channels/web", json=body)
                if r.status_code != 202:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - due) * 1000)

        start = time.perf_counter()
        tasks = []
        total = int(rate * seconds)
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)
    return sorted(latencies), errors


def smtp_rate(port: int, messages: int, threads: int = 4) -> float:
    def send(batch: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for n in range(batch):
                msg = EmailMessage()
                msg["From"] = f"inwoner{n % 200}@example.nl"
                msg["To"] = "info@gemeente.example.nl"
                msg["Subject"] = "Vraag over afval"
                msg["Message-ID"] = f"<{uuid.uuid4()}@mail.example.nl>"
                msg.set_content("De container is niet geleegd.")
                smtp.send_message(msg)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, [messages // threads] * threads))
    return (messages // threads * threads) / (time.perf_counter() - started)


async def run(bootstrap: str, database_url: str, *, seconds: int, logs: Path) -> IngestResult:
    suffix = uuid.uuid4().hex[:6]
    smtp_port = free_port()
    env = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": bootstrap,
        "EENLOKET_DATABASE_URL": database_url,
        "EENLOKET_TOPIC_INBOUND": f"bench.inbound.{suffix}",
        "EENLOKET_TOPIC_TIMELINE": f"bench.timeline.{suffix}",
        "EENLOKET_TOPIC_COMMANDS": f"bench.commands.{suffix}",
        "EENLOKET_TOPIC_DEADLETTER": f"bench.deadletter.{suffix}",
        "EENLOKET_SMTP_PORT": str(smtp_port),
        "EENLOKET_SMTP_DOMAINS": '["gemeente.example.nl"]',
        "EENLOKET_LOG_LEVEL": "WARNING",
    }
    with run_services({"ingest": env}, logs / "ingest") as services:
        url = services["ingest"].url
        wrk(url, 3, 16)  # warm-up
        rate, bad = wrk(url, seconds, 32)
        half = max(1.0, round(rate / 2))
        latencies, errors = await open_loop(url, half, seconds)
        smtp = await asyncio.to_thread(smtp_rate, smtp_port, 2000)
    return IngestResult(
        accepted_per_second=rate,
        non_2xx=bad,
        half_rate=half,
        half_rate_p50_ms=statistics.median(latencies),
        half_rate_p99_ms=latencies[int(len(latencies) * 0.99) - 1],
        half_rate_errors=errors,
        smtp_per_second=smtp,
    )
