"""Composition root of the outbound service: the consumer of send requests and delivery
reports, the delivery worker, the outbox relay of statuses, health endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.outbound.adapters import Adapters, build_adapters
from services.outbound.channels.base import Adapter
from services.outbound.config import OutboundSettings
from services.outbound.consume import Consume
from services.outbound.orm import consumer_offsets, outbox, processed_events
from services.outbound.worker import DeliveryWorker
from shared.contracts.outbound import ReplyChannel
from shared.db.engine import create_engine, session_factory
from shared.http import health_router, install_http_metrics, service_app
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.producer import ResilientProducer
from shared.outbox import OutboxRelay
from shared.outbox_purge import purge_forever
from shared.service import check_database, check_kafka
from shared.tasks import Loops, on_loop_death
from shared.telemetry import setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"
NAME = "eenloket-outbound"


def create_app(
    settings: OutboundSettings, adapters: Mapping[ReplyChannel, Adapter] | None = None
) -> FastAPI:
    """``adapters``: the channel adapters (tests give fakes); by default ``build_adapters``."""
    setup_tracing(NAME, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    registry = Adapters(build_adapters(settings) if adapters is None else adapters)
    source = settings.source(NAME)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        producer = ResilientProducer(
            lambda: make_producer(
                settings.kafka_bootstrap, NAME, linger_ms=settings.kafka_linger_ms
            )
        )
        await producer.start()
        relay = OutboxRelay(sessions=sessions, table=outbox, producer=producer)
        worker = DeliveryWorker(
            sessions=sessions, adapters=registry, settings=settings, on_commit=relay.notify
        )

        def committed() -> None:
            worker.notify()  # new deliveries are due at once
            relay.notify()  # reports' statuses

        consumer = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            topics=[settings.topic_outbound, settings.topic_delivery_reports],
            sessions=sessions,
            tables=ConsumerTables(offsets=consumer_offsets, processed=processed_events),
            handler=Consume(source=source, status_topic=settings.topic_outbound_status),
            dead_letters=DeadLetters(producer, settings.topic_deadletter),
            client_id=NAME,
            linger=settings.consumer_linger_ms / 1000,
            linger_until=settings.consumer_linger_records,
            linger_rate=settings.consumer_linger_rate,
            on_commit=committed,
        )
        await consumer.start()
        loops = Loops(on_death=on_loop_death(app.state))  # liveness: docs/reliability.md
        loops.start("outbound-consumer", consumer.run())
        loops.start("delivery-worker", worker.run())
        loops.start("outbox-relay", relay.run())
        loops.start("outbox-purge", purge_forever(sessions, outbox, settings))
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
            await registry.aclose()
            await engine.dispose()

    app = service_app(
        "Eenloket outbound",
        lifespan,
    )
    install_http_metrics(app)
    app.include_router(health_router(lambda: app.state.readiness))
    return app
