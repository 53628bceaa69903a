"""Settings every service shares (pydantic-settings; environment variables ``EENLOKET_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.envelope import source_urn
from shared.kafka.topics import TopicSpec

# The OIN of "no municipality": fine for development, refused in production.
PLACEHOLDER_OIN = "00000000000000000000"
PLACEHOLDER_SECRET = "dev-only-change-me"  # noqa: S105 - a placeholder that production refuses


def empty_is_unset(value: object) -> object:
    """A ``before`` validator: a variable set to "" (as compose's ``${X:-}`` does) is unset."""
    return None if value == "" else value


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EENLOKET_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    oin: str = Field(default=PLACEHOLDER_OIN, pattern=r"^\d{20}$")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int = 1
    topic_inbound: str = "omni.inbound.v1"
    topic_timeline: str = "omni.timeline.v1"
    topic_commands: str = "omni.commands.v1"
    topic_deadletter: str = "omni.deadletter.v1"
    # Replies (docs/outbound.md): send requests (router → outbound), their statuses (outbound
    # → router), and providers' delivery reports (ingest → outbound).
    topic_outbound: str = "omni.outbound.v1"
    topic_outbound_status: str = "omni.outbound-status.v1"
    topic_delivery_reports: str = "omni.delivery-reports.v1"
    topic_partitions: int = Field(default=12, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str | None = None
    # Batching (docs/operations.md): how long a producer waits to fill a request, and how
    # long a consumer's small batch waits for more records (up to that many), and the
    # arrival rate (records/s, last second) below which it does not wait at all.
    kafka_linger_ms: int = Field(default=10, ge=0, le=1000)
    consumer_linger_ms: int = Field(default=50, ge=0, le=1000)
    consumer_linger_records: int = Field(default=100, ge=1)
    consumer_linger_rate: float = Field(default=200.0, ge=0)
    # Services with an outbox (router, outbound): published rows are deleted after this long
    # (shared/outbox_purge.py), checked this often.
    outbox_retention_hours: float = Field(default=7 * 24.0, gt=0)
    outbox_purge_every_seconds: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.oin == PLACEHOLDER_OIN:
            raise ValueError("EENLOKET_OIN must be the municipality's own OIN in production")
        return self

    def source(self, system: str) -> str:
        return source_urn(self.oin, system)

    def topic_specs(self) -> list[TopicSpec]:
        week = 7 * 24 * 3600 * 1000
        return [
            TopicSpec(self.topic_inbound, self.topic_partitions, retention_ms=week),
            TopicSpec(self.topic_timeline, self.topic_partitions, retention_ms=-1),
            TopicSpec(self.topic_commands, self.topic_partitions, retention_ms=week),
            TopicSpec(self.topic_deadletter, 1, retention_ms=-1),
            TopicSpec(self.topic_outbound, self.topic_partitions, retention_ms=week),
            TopicSpec(self.topic_outbound_status, self.topic_partitions, retention_ms=week),
            TopicSpec(self.topic_delivery_reports, self.topic_partitions, retention_ms=week),
        ]
