"""Ingest settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from services.ingest.auth import AuthservId, Integration
from shared.attachments import AttachmentStoreSettings
from shared.settings import PLACEHOLDER_SECRET, ServiceSettings, empty_is_unset

MIB = 1024 * 1024


class IngestSettings(ServiceSettings, AttachmentStoreSettings):
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
    # The store (EENLOKET_ATTACHMENT_*) is AttachmentStoreSettings'; the limits are ingest's.
    max_attachments: int = Field(default=20, ge=0)
    max_attachment_bytes: int = Field(default=15 * MIB, ge=1)
    max_attachments_total_bytes: int = Field(default=25 * MIB, ge=1)

    # --- Open Formulieren (docs/open-formulieren.md) ----------------------------------
    # The per-form mapping file (YAML), validated at start-up. Unset: no form is known and
    # every Open Formulieren submission is refused (422).
    open_formulieren_mapping: Path | None = None

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

    _empty_is_unset = field_validator(
        "messagebird_signing_key",
        "app_webhook_secret",
        "messagebird_report_url",
        "open_formulieren_mapping",
        mode="before",
    )(staticmethod(empty_is_unset))

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
        if self.smtp_port is not None and not self.smtp_domains:
            raise ValueError(
                "EENLOKET_SMTP_DOMAINS must list the mail domains the SMTP receiver owns"
            )
        return self

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
