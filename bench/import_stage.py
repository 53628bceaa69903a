"""Import stage: contacts per second from an old CRM's export file into ``omni.inbound.v1``.

Generates an NDJSON file of N realistic contacts (about N/5 senders who come back, a few
old cases each, five years of history), then runs the importer (`eenloket import
contacts`, ops/importer/) into a fresh topic and times it until every record is
acknowledged. Kafka side only: routing the imported contacts is the router stage's work.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bench.workload import TEXTS, _bsn
from ops.importer import Options, import_to_kafka
from shared.envelope import source_urn
from shared.kafka.topics import TopicSpec, ensure_topics

SOURCE = source_urn("00000000000000000000", "eenloket-import")
CHANNELS = ["web", "email", "phone", "phone", "counter", "letter", "app", "chat"]
TEAMS = ["kcc", "afval", "burgerzaken", "parkeren", "belastingen", "vergunningen", "zorg"]
START = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int(timedelta(days=5 * 365).total_seconds())


def _sender(rng: random.Random, n: int) -> dict[str, str]:
    """Half known by their BSN (verified in the old CRM), the rest by address only."""
    if n % 2 == 0:
        return {"bsn": _bsn(rng), "email": f"inwoner{n}@example.nl", "verified": "bsn"}
    if n % 4 == 1:
        return {"email": f"inwoner{n}@example.nl"}
    return {"phone": f"06{20000000 + n:08d}"}


def generate(path: Path, contacts: int, seed: int = 13) -> None:
    """Write ``contacts`` rows of NDJSON to ``path``."""
    rng = random.Random(seed)
    senders = [_sender(rng, n) for n in range(max(1, contacts // 5))]
    with path.open("wb") as f:
        for _ in range(contacts):
            n = rng.randrange(len(senders))
            subject, text = rng.choice(TEXTS)
            at = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            row = {
                "date": at.isoformat(),
                "channel": rng.choice(CHANNELS),
                **senders[n],
                "subject": subject,
                "text": text,
                "case_number": f"CRM-{n:07d}-{rng.randrange(3)}",
                "team": TEAMS[n % len(TEAMS)],
            }
            f.write(orjson.dumps(row) + b"\n")


def _prepare(workdir: Path, path: Path, contacts: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    generate(path, contacts)


def _clean(workdir: Path, name: str) -> None:
    for leftover in workdir.glob(f"{name}*"):
        leftover.unlink()


async def run_import_stage(
    bootstrap: str, pg_dsn: str | None, contacts: int, workdir: Path
) -> dict[str, float]:
    """Import ``contacts`` generated contacts into a fresh topic; the rate Kafka acknowledged.

    Returns contacts, seconds, per_second, and cpu_seconds: the importer's own CPU time,
    which says more than the rate when other work shares the machine's cores. ``pg_dsn``
    is not used (the import writes to Kafka only); it keeps the stages' shape.
    """
    suffix = uuid.uuid4().hex[:6]
    topic = f"bench.import.{suffix}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 12)])
    path = workdir / f"contacts-{suffix}.ndjson"
    await asyncio.to_thread(_prepare, workdir, path, contacts)
    cpu, started = time.process_time(), time.perf_counter()
    summary = await import_to_kafka(
        path,
        bootstrap=bootstrap,
        topic=topic,
        source=SOURCE,
        key_secret=b"bench-secret",
        options=Options(trust_verified=True),
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await asyncio.to_thread(_clean, workdir, path.name)
    if summary.published != contacts:
        raise RuntimeError(
            f"{summary.published} of {contacts} published ({summary.rejected} rejected)"
        )
    return {
        "contacts": contacts,
        "seconds": seconds,
        "per_second": contacts / seconds,
        "cpu_seconds": cpu,
    }


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--contacts", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run_import_stage(args.bootstrap, None, args.contacts, Path(folder)))
    print(
        f"import: {result['contacts']:,.0f} contacts in {result['seconds']:.1f}s -> "
        f"{result['per_second']:,.0f}/s (importer CPU {result['cpu_seconds']:.1f}s, "
        f"{result['cpu_seconds'] / result['contacts'] * 1e6:.0f} µs per contact)"
    )
