"""Router settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/router.db"
    http_port: int = 8002
    consumer_group: str = "eenloket-router"
    default_team: str = "kcc"
    max_batch: int = 500
