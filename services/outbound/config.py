"""Outbound settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from services.outbound.channels.email import EmailSettings
from shared.attachments import AttachmentStoreSettings
from shared.settings import PLACEHOLDER_SECRET, ServiceSettings


class OutboundSettings(ServiceSettings, AttachmentStoreSettings):
    """The attachment store (``EENLOKET_ATTACHMENT_*``) is the one ingest writes: e-mail
    replies attach from it (read only)."""

    database_url: str = "sqlite+aiosqlite:///.local/data/outbound.db"
    http_port: int = 8004
    consumer_group: str = "eenloket-outbound"
    # E-mail: the municipality's relay, the sender, the domain of Message-IDs, Reply-To
    # (antwoord+<token>@) and bounce (bounces+<token>@) addresses (``EENLOKET_RELAY_*``; not
    # ``EENLOKET_SMTP_*``, which is ingest's receiver).
    relay: EmailSettings = Field(default_factory=EmailSettings)
    # SMS through MessageBird: set up when an access key is given.
    messagebird_access_key: SecretStr | None = None
    messagebird_originator: str = Field(default="Gemeente", max_length=11)
    messagebird_report_url: str = "http://127.0.0.1:8001/v1/delivery-reports/messagebird"
    messagebird_base_url: str = "https://rest.messagebird.com"
    # The municipality's app backend and chat platform (signed webhooks): set up when a URL
    # is given.
    app_webhook_url: str | None = None
    app_webhook_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    chat_webhook_url: str | None = None
    chat_webhook_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    # Letters: PDF files for the print street, set up when a folder is given.
    letter_dir: Path | None = None
    letter_municipality: str = "Gemeente"
    letter_address: tuple[str, ...] = ()
    # Retries of a TemporaryDeliveryError: at most this many attempts, waiting base * 2^(n-1)
    # seconds (at most max), each wait jittered to between half and all of it.
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    # A delivery being sent is leased this long: a worker that crashed mid-send leaves it to
    # be sent again once the lease ran out (docs/outbound.md, "the duplicate window").
    lease_seconds: float = Field(default=60.0, gt=0)
    # One adapter call may take this long before it counts as a temporary failure; below the
    # lease, so a slow provider is not also sent the same reply by another worker.
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    # Deliveries claimed per worker round (sent concurrently), and the pause of an idle worker.
    worker_batch: int = Field(default=100, ge=1)
    worker_poll_seconds: float = Field(default=0.5, gt=0)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> OutboundSettings:
        if self.environment != "production":
            return self
        for channel, url, secret in (
            ("app", self.app_webhook_url, self.app_webhook_secret),
            ("chat", self.chat_webhook_url, self.chat_webhook_secret),
        ):
            if url and secret.get_secret_value() == PLACEHOLDER_SECRET:
                raise ValueError(f"EENLOKET_{channel.upper()}_WEBHOOK_SECRET must be set")
        return self
