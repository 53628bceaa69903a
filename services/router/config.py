"""Router settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path

from services.router.routing.rules import DEFAULT_FILE
from shared.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/router.db"
    http_port: int = 8002
    consumer_group: str = "eenloket-router"
    routing_file: Path = DEFAULT_FILE
    # Records per consumed batch (one transaction). The per-batch statements and round trips
    # are shared by more messages: 2000 took the router's CPU per message down by a sixth and
    # its rate up by a third against 500 (bench/router_stage.py, 20,000 messages).
    max_batch: int = 2000
    # How often the gauges (open/overdue cases per team, outbox backlog) are read.
    gauges_every_seconds: float = 30.0
