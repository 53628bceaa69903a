"""`deploy/local/postgres.sh start --durable` runs PostgreSQL with its durable defaults (what
`make bench` measures with, issue #22); without the option the cluster is the tests' fast one.
The mode follows each start, so one folder can be restarted in the other mode."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.reliability.harness import last_value, local_script

SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


async def _settings(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in SETTINGS}
    finally:
        await conn.close()


async def test_durable_start_keeps_postgres_defaults_and_a_plain_start_trades_them(
    tmp_path: Path,
) -> None:
    folder = str(tmp_path / "pg")
    try:
        dsn = last_value(
            local_script("postgres.sh", "start", "--dir", folder, "--durable"), "PG_DSN"
        )
        assert await _settings(dsn) == dict.fromkeys(SETTINGS, "on")
        local_script("postgres.sh", "stop", "--dir", folder)
        dsn = last_value(local_script("postgres.sh", "start", "--dir", folder), "PG_DSN")
        assert await _settings(dsn) == dict.fromkeys(SETTINGS, "off")
    finally:
        local_script("postgres.sh", "stop", "--dir", folder)
