"""Ingest settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from services.ingest.attachments import S3Config, s3_bucket, s3_prefix
from services.ingest.auth import AuthservId, Integration
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
    # Every request waits for Kafka's acknowledgement, so a client sending one request at
    # a time gets at most 1 / (linger + the round trip) per connection: 5 ms, not the
    # 10 ms the consumers' producers use; at 2 ms Kafka spent twice the CPU on ingest's
    # one-message produce requests (docs/operations.md, "Batching").
    kafka_linger_ms: int = Field(default=5, ge=0, le=1000)
    # Well-formed JSON channel requests skip FastAPI's routing and dependency solving
    # (services/ingest/fastlane.py); same answers, half the CPU. Off: every request takes
    # the FastAPI route (a switch for ruling it out, not a tuning knob).
    fast_lane: bool = True

    # --- integrations (API keys) ------------------------------------------------------
    # ``EENLOKET_API_KEYS``: {"name": {"sha256": "<hex>", "channels": [...],
    # "may_assert_login": bool}}. Only hashes are configured; ``eenloket keys new``
    # makes a key.
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
    # The S3-compatible store (needs the extra ``eenloket[s3]``). No endpoint = AWS;
    # no access key = boto3's own chain (AWS_* variables, web identity, instance role).
    attachment_s3_bucket: str | None = None
    attachment_s3_endpoint_url: str | None = None
    attachment_s3_region: str | None = None
    attachment_s3_access_key_id: str | None = None
    attachment_s3_secret_access_key: SecretStr | None = None
    # MinIO and Ceph usually want path-style URLs (http://host/bucket/key).
    attachment_s3_path_style: bool = False
    attachment_s3_prefix: str = "attachments/"
    # Per connect and per read; boto3 retries up to max_attempts in all.
    attachment_s3_timeout_seconds: float = Field(default=5.0, gt=0)
    attachment_s3_max_attempts: int = Field(default=3, ge=1, le=10)
    # Threads (and connections) for the blocking boto3 calls.
    attachment_s3_max_concurrency: int = Field(default=8, ge=1, le=64)
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
    # The authserv-ids (RFC 8601) of the mail gateway(s) in front of the receiver: only
    # their own Authentication-Results headers count, and their dmarc=pass for the From
    # domain is the From address's evidence. Empty: no e-mail address has evidence.
    # (The HTTP e-mail route has this per integration key: EENLOKET_API_KEYS.)
    smtp_trusted_authserv_ids: list[AuthservId] = Field(default_factory=list)
    max_email_bytes: int = Field(default=25 * MIB, ge=1024)

    # --- delivery reports of our replies (issue #17) --------------------------------
    # MessageBird's signing key (its dashboard: Developers, API access), which signs the
    # SMS status reports (``MessageBird-Signature-JWT``), and the app backend's webhook
    # secret (``X-Eenloket-Signature``). Unset: the placeholder outside production; in
    # production the route refuses every report (401) until the key is set.
    messagebird_signing_key: SecretStr | None = None
    app_webhook_secret: SecretStr | None = None
    # The public URL MessageBird calls (the ``reportUrl`` the outbound service sends), when
    # a proxy in front of ingest changes scheme, host or path: the signature covers it.
    messagebird_report_url: str | None = None

    @field_validator(
        "attachment_s3_bucket",
        "attachment_s3_endpoint_url",
        "attachment_s3_region",
        "attachment_s3_access_key_id",
        "attachment_s3_secret_access_key",
        "messagebird_signing_key",
        "app_webhook_secret",
        "messagebird_report_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("attachment_s3_bucket")
    @classmethod
    def _valid_bucket(cls, bucket: str | None) -> str | None:
        return None if bucket is None else s3_bucket(bucket)

    @field_validator("attachment_s3_prefix")
    @classmethod
    def _valid_prefix(cls, prefix: str) -> str:
        return s3_prefix(prefix)

    @field_validator("attachment_s3_endpoint_url")
    @classmethod
    def _valid_endpoint(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
            raise ValueError(f"S3 endpoint {url!r} is not an http(s) URL")
        return url

    @field_validator("smtp_domains")
    @classmethod
    def _lower_domains(cls, domains: list[str]) -> list[str]:
        return [d.strip().lower().rstrip(".") for d in domains if d.strip()]

    @model_validator(mode="after")
    def _safe_in_production(self) -> IngestSettings:
        if self.environment == "production":
            if self.sender_key_secret.get_secret_value() == PLACEHOLDER_SECRET:
                raise ValueError("EENLOKET_SENDER_KEY_SECRET must be set in production")
            for name in ("messagebird_signing_key", "app_webhook_secret"):
                secret: SecretStr | None = getattr(self, name)
                if secret is not None and secret.get_secret_value() == PLACEHOLDER_SECRET:
                    raise ValueError(f"EENLOKET_{name.upper()} must be set in production")
            if self.allow_anonymous:
                raise ValueError("EENLOKET_ALLOW_ANONYMOUS cannot be true in production")
            if not self.api_keys and not self.portal_api_key.get_secret_value():
                # Every request would be a 401: a service that accepts nothing must not start.
                raise ValueError(
                    "production needs at least one integration key (EENLOKET_API_KEYS; "
                    "make one with `eenloket keys new`)"
                )
        if self.attachment_store == "s3" and self.attachment_s3_bucket is None:
            raise ValueError("EENLOKET_ATTACHMENT_STORE=s3 needs EENLOKET_ATTACHMENT_S3_BUCKET")
        if (self.attachment_s3_access_key_id is None) != (
            self.attachment_s3_secret_access_key is None
        ):
            raise ValueError(
                "EENLOKET_ATTACHMENT_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY go together"
            )
        if self.smtp_port is not None and not self.smtp_domains:
            raise ValueError(
                "EENLOKET_SMTP_DOMAINS must list the mail domains the SMTP receiver owns"
            )
        return self

    def attachment_s3_config(self) -> S3Config:
        if self.attachment_s3_bucket is None:
            raise ValueError("EENLOKET_ATTACHMENT_S3_BUCKET is not set")
        secret = self.attachment_s3_secret_access_key
        return S3Config(
            bucket=self.attachment_s3_bucket,
            prefix=self.attachment_s3_prefix,
            endpoint_url=self.attachment_s3_endpoint_url,
            region=self.attachment_s3_region,
            access_key_id=self.attachment_s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            path_style=self.attachment_s3_path_style,
            timeout_seconds=self.attachment_s3_timeout_seconds,
            max_attempts=self.attachment_s3_max_attempts,
            max_concurrency=self.attachment_s3_max_concurrency,
        )

    def webhook_key(self, name: Literal["messagebird", "app"]) -> bytes | None:
        """The key a delivery-report webhook is verified with; ``None``: none configured
        (production), every report refused."""
        secret = self.messagebird_signing_key if name == "messagebird" else self.app_webhook_secret
        if secret is not None:
            return secret.get_secret_value().encode()
        return None if self.environment == "production" else PLACEHOLDER_SECRET.encode()

    @property
    def anonymous_allowed(self) -> bool:
        if self.allow_anonymous is None:
            return self.environment != "production"
        return self.allow_anonymous
