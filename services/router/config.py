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
    max_batch: int = 500
