"""What every service process does the same way: readiness checks, migrate, serve."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
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
from shared.tasks import RUNNER_HOOK

log = logging.getLogger(__name__)

EXIT_LOOP_DIED = 70
"""The process's exit status when a background loop died (EX_SOFTWARE of sysexits.h): the
orchestrator restarts it. docs/operations.md, "Liveness"."""
LOOP_DEATH_GRACE = 10.0
"""Seconds the orderly shutdown after a loop's death may take before the process exits anyway."""


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
    status = run_server(app_factory(settings), host=settings.http_host, port=settings.http_port)
    if status:
        sys.exit(status)


def run_server(app: FastAPI, *, host: str, port: int, grace: float = LOOP_DEATH_GRACE) -> int:
    """Run ``app`` under uvicorn; returns the process's exit status.

    On SIGTERM/SIGINT uvicorn shuts down gracefully and then re-raises the signal (the process
    ends as terminated by it, as before). When a supervised loop (``shared/tasks.py``) dies,
    the server is stopped as for SIGTERM: it stops accepting, then the lifespan's shutdown
    stops the loops and the Kafka consumer (which leaves its group, so its partitions move at
    once), and this returns ``EXIT_LOOP_DIED``. Should that shutdown take longer than
    ``grace`` seconds, the process exits with that status anyway."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            # Idle keep-alive connections stay open longer than a load balancer's idle timeout
            # (commonly 60 s), so the balancer closes first: with uvicorn's 5 s a client could
            # send on a connection the server was closing (a reset, seen in the e2e benchmark).
            timeout_keep_alive=75,
        )
    )
    died: list[str] = []

    def loop_died(name: str) -> None:
        if died:
            return
        died.append(name)
        log.critical(
            "a background loop died: the service stops and exits for a restart",
            extra={"loop": name, "exit_code": EXIT_LOOP_DIED},
        )
        # Open requests (a live stream) get half the grace; the lifespan's shutdown follows.
        server.config.timeout_graceful_shutdown = max(1, int(grace / 2))
        server.should_exit = True
        threading.Thread(target=_exit_after, args=(grace, name), daemon=True).start()

    setattr(app.state, RUNNER_HOOK, loop_died)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C after the shutdown, as uvicorn.run
        server.run()
    if died:
        log.error(
            "stopped after a dead loop: exiting for a restart",
            extra={"loop": died[0], "exit_code": EXIT_LOOP_DIED},
        )
        return EXIT_LOOP_DIED
    if not server.started:
        return 3  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits
    return 0


def _exit_after(grace: float, name: str) -> None:
    """The deadline of the shutdown after a loop died (a daemon thread: it only acts if the
    process is still there)."""
    threading.Event().wait(grace)
    log.critical(
        "shutdown after a dead loop took too long: exiting now",
        extra={"loop": name, "exit_code": EXIT_LOOP_DIED},
    )
    sys.stderr.flush()
    os._exit(EXIT_LOOP_DIED)
