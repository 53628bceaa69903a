"""Caseview settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class CaseviewSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/caseview.db"
    http_port: int = 8003
    consumer_group: str = "eenloket-caseview"
    max_batch: int = 1000
