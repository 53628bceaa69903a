"""Ingest settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import PLACEHOLDER_SECRET, ServiceSettings


class IngestSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/ingest.db"
    http_port: int = 8001
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Keys the Kafka record by an HMAC of the sender's identifier, so records of one
    # sender share a partition without a BSN or e-mail address ever being a key.
    sender_key_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    # The municipal portal's integration key: only a caller holding it may assert a
    # DigiD/eHerkenning-authenticated identifier. Empty: nobody may.
    portal_api_key: SecretStr = SecretStr("")
    kafka_timeout_seconds: float = 10.0
    retry_after_seconds: int = 5

    @model_validator(mode="after")
    def _secrets_in_production(self) -> IngestSettings:
        if (
            self.environment == "production"
            and self.sender_key_secret.get_secret_value() == PLACEHOLDER_SECRET
        ):
            raise ValueError("EENLOKET_SENDER_KEY_SECRET must be set in production")
        return self
