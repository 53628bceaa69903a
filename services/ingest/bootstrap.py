"""Composition root of ingest: settings in, a running FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from services.ingest import api, report_routes
from services.ingest.attachments import AttachmentLimits
from services.ingest.auth import Authenticator, Integration, hash_key
from services.ingest.config import IngestSettings
from services.ingest.delivery_reports import ReportPublisher
from services.ingest.fastlane import FastLane
from services.ingest.middleware import BodyLimitPerChannel, RejectionMetrics
from services.ingest.open_formulieren import ROUTE_NAME as OPEN_FORMULIEREN
from services.ingest.open_formulieren import routes as open_formulieren
from services.ingest.open_formulieren.mapping import load_mappings
from services.ingest.service import Intake
from services.ingest.smtp import SmtpReceiver
from shared.attachments import S3AttachmentStore, open_attachment_store
from shared.contracts import Channel
from shared.db.engine import create_engine
from shared.http import (
    ReadinessCheck,
    health_router,
    install_http_metrics,
    service_app,
)
from shared.kafka.config import make_producer
from shared.kafka.producer import ResilientProducer
from shared.service import check_database, check_kafka
from shared.tasks import Loops, on_loop_death
from shared.telemetry import instrument_http, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"


def integrations(settings: IngestSettings) -> dict[str, Integration]:
    """``EENLOKET_API_KEYS``, plus the deprecated portal key as integration "portal"."""
    configured = dict(settings.api_keys)
    legacy: SecretStr = settings.portal_api_key
    if legacy.get_secret_value() and "portal" not in configured:
        configured["portal"] = Integration(
            sha256=hash_key(legacy.get_secret_value()),
            channels=frozenset({Channel.WEB}),
            may_assert_login=True,
        )
    return configured


def create_app(settings: IngestSettings) -> FastAPI:
    setup_tracing("eenloket-ingest", otlp_endpoint=settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_attachment_store(settings)  # refuses to start on an unusable store
        await store.check()
        # No ping per checkout (a round trip per message, 9 % of ingest's CPU under load):
        # a connection PostgreSQL dropped fails its statement, the pool is invalidated and
        # the caller gets the 503 it would get for any database outage, and sends again.
        # The pool keeps every connection it may open (20; 10 + 5 overflow before):
        # under load an overflow connection was closed on its return and opened again
        # (a name lookup in a thread, a PostgreSQL backend started) for the next message.
        engine = create_engine(
            settings.database_url, pool_pre_ping=False, pool_size=20, max_overflow=0
        )
        producer = ResilientProducer(
            lambda: make_producer(
                settings.kafka_bootstrap, "eenloket-ingest", linger_ms=settings.kafka_linger_ms
            )
        )
        await producer.start()
        intake = Intake(
            engine=engine,
            producer=producer,
            topic=settings.topic_inbound,
            source=settings.source("eenloket-ingest"),
            key_secret=settings.sender_key_secret.get_secret_value().encode(),
            kafka_timeout=settings.kafka_timeout_seconds,
            attachments=store,
            limits=AttachmentLimits(
                max_count=settings.max_attachments,
                max_bytes=settings.max_attachment_bytes,
                max_total_bytes=settings.max_attachments_total_bytes,
            ),
            retention=timedelta(days=settings.idempotency_retention_days),
        )
        app.state.intake = intake
        reports = ReportPublisher(
            producer=producer,
            topic=settings.topic_delivery_reports,
            source=settings.source("eenloket-ingest"),
            kafka_timeout=settings.kafka_timeout_seconds,
        )
        app.state.reports = reports
        loops = Loops(on_death=on_loop_death(app.state))  # liveness: docs/reliability.md
        loops.start(
            "idempotency-purge",
            intake.purge_forever(settings.idempotency_purge_interval_seconds),
        )
        readiness: dict[str, ReadinessCheck] = {
            "database": lambda: check_database(engine),
            "kafka": lambda: check_kafka(producer.client),
            "attachments": store.check,
            "loops": loops.check,
        }
        smtp: SmtpReceiver | None = None
        try:
            if settings.smtp_port is not None:
                smtp = SmtpReceiver(
                    intake,
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    hostname=settings.smtp_hostname,
                    domains=settings.smtp_domains,
                    max_message_bytes=settings.max_email_bytes,
                    trusted_authserv_ids=settings.smtp_trusted_authserv_ids,
                    reports=reports,
                )
                await smtp.start()
                readiness["smtp"] = smtp.check
            app.state.smtp = smtp
            app.state.readiness = readiness
            yield
        finally:
            if smtp is not None:
                await smtp.stop()
            await loops.stop()
            await producer.stop()
            await engine.dispose()
            if isinstance(store, S3AttachmentStore):
                store.close()  # its threads and connections

    app = service_app(
        "Eenloket ingest",
        lifespan,
        summary="The one door in: every channel's messages, normalised onto Kafka.",
        description="Each route answers 202 only after Kafka acknowledged the message. "
        "Errors are RFC 9457 problem documents. See docs/channels.md.",
    )
    app.state.settings = settings
    app.state.authenticator = Authenticator(
        integrations(settings), allow_anonymous=settings.anonymous_allowed
    )
    app.state.open_formulieren = load_mappings(settings.open_formulieren_mapping)
    app.state.readiness = {}
    if settings.fast_lane:
        app.add_middleware(FastLane)  # innermost: inside the limits and the metrics below
    install_http_metrics(app)
    content = settings.max_message_bytes
    app.add_middleware(
        BodyLimitPerChannel,
        default=settings.max_body_bytes,
        per_channel={
            Channel.EMAIL.value: settings.max_email_bytes,
            Channel.APP.value: content,
            Channel.CHAT.value: content,
            Channel.COUNTER.value: content,
            Channel.LETTER.value: content,
            OPEN_FORMULIEREN: content,  # files, base64 in the values
        },
    )
    app.add_middleware(RejectionMetrics)
    app.include_router(api.router)
    app.include_router(open_formulieren.router)
    app.include_router(report_routes.router)
    app.include_router(health_router(lambda: app.state.readiness))
    instrument_http(app)
    return app
