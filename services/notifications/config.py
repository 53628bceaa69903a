"""Notifications settings (environment variables ``EENLOKET_*``; docs/notificaties.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings import PLACEHOLDER_SECRET, ServiceSettings, empty_is_unset


class NotificationsSettings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///.local/data/notifications.db"
    http_port: int = 8005
    consumer_group: str = "eenloket-notifications"
    # The municipality's notification component (Open Notificaties): its root, before
    # /api/v1. Unset: notifications are recorded but not sent (development without one).
    nrc_url: str | None = None
    # The ZGW JWT the component knows this client by (Open Notificaties: an Applicatie with
    # this client id and secret, allowed notificaties.publiceren and notificaties.consumeren).
    nrc_client_id: str = "eenloket"
    nrc_secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    # Where notifications point: the Klantinteracties facade up to /api/v1, caseview up to /v1,
    # as subscribers reach them.
    klantinteracties_url: str = "http://127.0.0.1:8003/klantinteracties/api/v1"
    caseview_url: str = "http://127.0.0.1:8003/v1"
    # The kanalen's documentatieLink when they are registered.
    kanaal_documentation_url: str = "https://eenloket.example/docs/notificaties.md"
    # At-least-once: a failed send is retried after base * 2^(n-1) s (at most max, jittered
    # to between half and all of it) until it sent or reached the ceiling — this many
    # attempts, or this age — and then it is given up (status gave_up, a metric, an alert).
    max_attempts: int = Field(default=12, ge=1)
    max_age_seconds: float = Field(default=24 * 3600.0, gt=0)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=1800.0, gt=0)
    # A notification being sent is leased this long (a crashed worker's is sent again after).
    lease_seconds: float = Field(default=60.0, gt=0)
    send_timeout_seconds: float = Field(default=15.0, gt=0)
    worker_batch: int = Field(default=100, ge=1)
    # Sent notifications are deleted this long after they were sent (the component has them;
    # the table would otherwise grow with every change). Given-up ones stay: an operator
    # needs them (docs/notificaties.md, "Operating it").
    sent_retention_hours: float = Field(default=7 * 24.0, gt=0)
    purge_every_seconds: float = Field(default=3600.0, gt=0)
    worker_poll_seconds: float = Field(default=0.5, gt=0)

    _nrc_unset = field_validator("nrc_url", mode="before")(empty_is_unset)

    @model_validator(mode="after")
    def _real_secret_in_production(self) -> NotificationsSettings:
        if (
            self.environment == "production"
            and self.nrc_url
            and self.nrc_secret.get_secret_value() == PLACEHOLDER_SECRET
        ):
            raise ValueError("EENLOKET_NRC_SECRET must be set")
        return self
