"""Composition root of the notifications publisher: the timeline consumer, the worker that
sends to the notification component, health endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notifications.config import NotificationsSettings
from services.notifications.consume import Consume
from services.notifications.mapping import Urls
from services.notifications.nrc import Nrc
from services.notifications.orm import consumer_offsets, processed_events
from services.notifications.worker import NotificationWorker
from shared.db.engine import create_engine, session_factory
from shared.http import health_router, install_http_metrics, service_app
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.producer import ResilientProducer
from shared.service import check_database, check_kafka
from shared.tasks import Loops, on_loop_death
from shared.telemetry import setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"
NAME = "eenloket-notifications"
log = logging.getLogger(__name__)


def create_app(
    settings: NotificationsSettings, nrc_client: httpx.AsyncClient | None = None
) -> FastAPI:
    """``nrc_client``: the HTTP client towards the component (tests give one with a transport)."""
    setup_tracing(NAME, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    urls = Urls(
        klantinteracties=settings.klantinteracties_url.rstrip("/"),
        caseview=settings.caseview_url.rstrip("/"),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        # Only the dead letters of undecodable timeline records are produced.
        producer = ResilientProducer(
            lambda: make_producer(
                settings.kafka_bootstrap, NAME, linger_ms=settings.kafka_linger_ms
            )
        )
        await producer.start()
        nrc = Nrc(settings, nrc_client) if settings.nrc_url else None
        worker = NotificationWorker(sessions=sessions, nrc=nrc, settings=settings) if nrc else None
        consumer = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            topics=[settings.topic_timeline],
            sessions=sessions,
            tables=ConsumerTables(offsets=consumer_offsets, processed=processed_events),
            handler=Consume(urls),
            dead_letters=DeadLetters(producer, settings.topic_deadletter),
            client_id=NAME,
            linger=settings.consumer_linger_ms / 1000,
            linger_until=settings.consumer_linger_records,
            linger_rate=settings.consumer_linger_rate,
            on_commit=worker.notify if worker else None,
        )
        await consumer.start()
        loops = Loops(on_death=on_loop_death(app.state))  # liveness: docs/reliability.md
        loops.start("notifications-consumer", consumer.run())
        if worker is not None:
            loops.start("notification-worker", worker.run())
            loops.start("notification-purge", worker.purge_forever())
        else:
            log.warning("EENLOKET_NRC_URL is not set: notifications are recorded, not sent")
        app.state.readiness = {
            "database": lambda: check_database(engine),
            "kafka": lambda: check_kafka(producer.client),
            "loops": loops.check,
        }
        try:
            yield
        finally:
            await loops.stop()
            await consumer.stop()
            await producer.stop()
            if nrc is not None:
                await nrc.aclose()
            await engine.dispose()

    app = service_app("Eenloket notifications", lifespan)
    install_http_metrics(app)
    app.include_router(health_router(lambda: app.state.readiness))
    return app
