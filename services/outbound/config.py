"""Outbound settings (environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class OutboundSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/outbound.db"
    http_port: int = 8004
    consumer_group: str = "eenloket-outbound"
    # The domain of Message-IDs, Reply-To (antwoord+<token>@) and bounce (bounces+<token>@)
    # addresses.
    mail_domain: str = "eenloket.example"
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
