"""Composition root of ingest: settings in, a running FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from services.ingest import api
from services.ingest.config import IngestSettings
from services.ingest.service import Intake
from shared.db.engine import create_engine, session_factory
from shared.http import BodySizeLimit, health_router, install_problem_handlers
from shared.kafka.config import make_producer
from shared.service import check_database, check_kafka
from shared.telemetry import setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IngestSettings) -> FastAPI:
    setup_tracing("eenloket-ingest", otlp_endpoint=settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        producer = make_producer(settings.kafka_bootstrap, "eenloket-ingest")
        await producer.start()
        app.state.intake = Intake(
            sessions=session_factory(engine),
            producer=producer,
            topic=settings.topic_inbound,
            source=settings.source("eenloket-ingest"),
            key_secret=settings.sender_key_secret.get_secret_value().encode(),
            kafka_timeout=settings.kafka_timeout_seconds,
        )
        app.state.readiness = {
            "database": lambda: check_database(engine),
            "kafka": lambda: check_kafka(producer.client),
        }
        try:
            yield
        finally:
            await producer.stop()
            await engine.dispose()

    app = FastAPI(
        title="Eenloket ingest",
        version="1",
        summary="The one door in: every channel's messages, normalised onto Kafka.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.include_router(api.router)
    app.include_router(health_router(lambda: app.state.readiness))
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
