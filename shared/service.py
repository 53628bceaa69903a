"""What every service process does the same way: readiness checks, migrate, serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn
from aiokafka import AIOKafkaClient
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.migrations import upgrade
from shared.kafka.topics import ensure_topics
from shared.logging import setup_logging
from shared.settings import ServiceSettings


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_kafka(client: AIOKafkaClient) -> None:
    if not await client.fetch_all_metadata():
        raise ConnectionError("no metadata from Kafka")


async def prepare_kafka(settings: ServiceSettings) -> None:
    """Create the topics if they are missing (idempotent; replicas may race)."""
    await ensure_topics(
        settings.kafka_bootstrap,
        settings.topic_specs(),
        replication_factor=settings.kafka_replication_factor,
    )


def service_main(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
    migrations: Path,
    database_url: Callable[[ServiceSettings], str],
) -> None:
    """``python -m services.<name> migrate|serve|openapi``."""
    parser = argparse.ArgumentParser(prog=f"eenloket-{name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations, then exit")
    serve = sub.add_parser("serve", help="run the service (migrations must have run)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("openapi", help="print the OpenAPI document")
    args = parser.parse_args()

    settings = settings_factory()
    if args.command == "openapi":
        json.dump(app_factory(settings).openapi(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    setup_logging(f"eenloket-{name}", settings.log_level)
    if args.command == "migrate" or getattr(args, "migrate", False):
        upgrade(migrations, database_url(settings))
        if args.command == "migrate":
            return
    asyncio.run(prepare_kafka(settings))
    uvicorn.run(
        app_factory(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        # Idle keep-alive connections stay open longer than a load balancer's idle timeout
        # (commonly 60 s), so the balancer closes first: with uvicorn's 5 s a client could
        # send on a connection the server was closing (a reset, seen in the e2e benchmark).
        timeout_keep_alive=75,
    )
