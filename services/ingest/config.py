"""Ingest settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from services.ingest.auth import Integration
from shared.settings import PLACEHOLDER_SECRET, ServiceSettings

MIB = 1024 * 1024


class IngestSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/ingest.db"
    http_port: int = 8001
    # JSON channels without attachments (web, phone, counter).
    max_body_bytes: int = Field(default=1 * MIB, ge=1024)
    # Routes that carry content: raw e-mail, and base64 attachments in app, chat and letter.
    max_message_bytes: int = Field(default=35 * MIB, ge=1024)
    # Keys the Kafka record by an HMAC of the sender's identifier, so records of one
    # sender share a partition without a BSN or e-mail address ever being a key.
    sender_key_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    kafka_timeout_seconds: float = 10.0
    retry_after_seconds: int = 5

    # --- integrations (API keys) ------------------------------------------------------
    # ``EENLOKET_API_KEYS``: {"name": {"sha256": "<hex>", "channels": [...],
    # "may_assert_login": bool}}. Only hashes are configured; see ``python -m
    # services.ingest.auth --help`` to make a key.
    api_keys: dict[str, Integration] = Field(default_factory=dict)
    # Outside production a request without any key is let in as the integration
    # "anonymous": every HTTP channel, never a login assertion. Production refuses it.
    allow_anonymous: bool | None = None
    # Deprecated: the web-form portal's key in plain text (before EENLOKET_API_KEYS).
    # Still honoured as integration "portal" (web only, may assert logins).
    portal_api_key: SecretStr = SecretStr("")

    # --- attachments (claim check) ----------------------------------------------------
    attachment_store: Literal["local", "s3"] = "local"
    attachment_dir: Path = Path(".local/data/attachments")
    attachment_s3_bucket: str | None = None
    attachment_s3_endpoint_url: str | None = None
    attachment_s3_prefix: str = "attachments/"
    max_attachments: int = Field(default=20, ge=0)
    max_attachment_bytes: int = Field(default=15 * MIB, ge=1)
    max_attachments_total_bytes: int = Field(default=25 * MIB, ge=1)

    # --- idempotency ------------------------------------------------------------------
    # A re-send within this window gets the first answer; older keys count as new (and
    # are purged). A week, like the inbound topic's retention.
    idempotency_retention_days: int = Field(default=7, ge=1)
    idempotency_purge_interval_seconds: float = Field(default=3600.0, gt=0)

    # --- SMTP receiver (e-mail channel) ----------------------------------------------
    smtp_port: int | None = Field(default=None, ge=0, le=65535)
    smtp_host: str = "127.0.0.1"
    smtp_hostname: str = "eenloket-ingest"
    # The municipality's own mail domains: RCPT TO any other domain is a 550.
    smtp_domains: list[str] = Field(default_factory=list)
    max_email_bytes: int = Field(default=25 * MIB, ge=1024)

    @field_validator("smtp_domains")
    @classmethod
    def _lower_domains(cls, domains: list[str]) -> list[str]:
        return [d.strip().lower().rstrip(".") for d in domains if d.strip()]

    @model_validator(mode="after")
    def _safe_in_production(self) -> IngestSettings:
        if self.environment == "production":
            if self.sender_key_secret.get_secret_value() == PLACEHOLDER_SECRET:
                raise ValueError("EENLOKET_SENDER_KEY_SECRET must be set in production")
            if self.allow_anonymous:
                raise ValueError("EENLOKET_ALLOW_ANONYMOUS cannot be true in production")
        if self.smtp_port is not None and not self.smtp_domains:
            raise ValueError(
                "EENLOKET_SMTP_DOMAINS must list the mail domains the SMTP receiver owns"
            )
        return self

    @property
    def anonymous_allowed(self) -> bool:
        if self.allow_anonymous is None:
            return self.environment != "production"
        return self.allow_anonymous
