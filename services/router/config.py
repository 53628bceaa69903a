"""Router settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from services.router.routing.rules import DEFAULT_FILE
from shared.settings import PLACEHOLDER_SECRET, ServiceSettings


class RouterSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/router.db"
    http_port: int = 8002
    consumer_group: str = "eenloket-router"
    routing_file: Path = DEFAULT_FILE
    # Records per consumed batch (one transaction). The per-batch statements and round trips
    # are shared by more messages: 2000 took the router's CPU per message down by a sixth and
    # its rate up by a third against 500 (bench/router_stage.py, 20,000 messages).
    max_batch: int = 2000
    # Consumers (group members, each with its own partitions and transactions) in one
    # process. One consumer routes a batch and then waits for PostgreSQL and Kafka; a second
    # one routes while the first waits, so one process uses its core instead of idling
    # (docs/benchmarks.md, "Router"). Parties are locked in the database, so two members in
    # one process are as safe as two processes.
    consumers: int = Field(default=1, ge=1, le=8)
    # How often the gauges (open/overdue cases per team, outbox backlog) are read.
    gauges_every_seconds: float = 30.0
    # The HMAC key of reply tokens (``reply_token``): whoever holds it can forge an answer
    # into any reply's case, so production refuses the placeholder.
    reply_token_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)

    @model_validator(mode="after")
    def _reply_token_key_in_production(self) -> RouterSettings:
        if (
            self.environment == "production"
            and self.reply_token_key.get_secret_value() == PLACEHOLDER_SECRET
        ):
            raise ValueError("EENLOKET_REPLY_TOKEN_KEY must be set in production")
        return self
