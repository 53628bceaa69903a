"""Kafka and PostgreSQL for a benchmark run, started by the project's own scripts."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from typing import Any

import asyncpg

from shared.db.migrations import upgrade
from shared.devstack import ROOT

BENCH = ROOT / ".local" / "bench"


def _start(script: str, folder: str, *options: str) -> str:
    out = subprocess.run(  # noqa: S603
        ["bash", f"deploy/local/{script}", "start", "--dir", str(BENCH / folder), *options],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1].split("=", 1)[1]


def _stop(script: str, folder: str) -> None:
    subprocess.run(  # noqa: S603
        ["bash", f"deploy/local/{script}", "stop", "--dir", str(BENCH / folder)],  # noqa: S607
        cwd=ROOT,
        check=False,
        capture_output=True,
    )


# What the published figures are measured with: PostgreSQL as a municipality runs it.
DURABLE = "durable (fsync, synchronous_commit and full_page_writes on: PostgreSQL's defaults)"
FAST = "fast (--fast-db: fsync, synchronous_commit and full_page_writes off, the test cluster's)"


@contextlib.contextmanager
def infrastructure(*, fast_db: bool = False) -> Iterator[tuple[str, str]]:
    """(kafka bootstrap, postgres dsn without database); stopped afterwards. PostgreSQL is
    durable unless ``fast_db``: the bench's folder is its own, so the mode is set anew."""
    _stop("postgres.sh", "postgres")  # a cluster left running keeps its old settings
    options = () if fast_db else ("--durable",)
    try:
        yield _start("kafka.sh", "kafka"), _start("postgres.sh", "postgres", *options)
    finally:
        _stop("kafka.sh", "kafka")
        _stop("postgres.sh", "postgres")


async def fresh_database(dsn: str, name: str) -> str:
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"


async def migrated_database(dsn: str, name: str, migrations: Any) -> str:
    """A fresh database with a service's migrations applied; its SQLAlchemy URL."""
    url = await fresh_database(dsn, name)
    await asyncio.to_thread(upgrade, migrations, url)
    return url


def plain(url: str) -> str:
    """The asyncpg URL of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
