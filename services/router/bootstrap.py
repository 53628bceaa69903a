"""Composition root of the router: the consumer (inbound messages, staff commands, reply
statuses), the outbox relay, health endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.router import gauges
from services.router.commands import BY_TYPE as COMMANDS
from services.router.commands import handle_command
from services.router.commands.replies import handle_status
from services.router.config import RouterSettings
from services.router.context import RouterContext
from services.router.handlers import route_records
from services.router.orm import consumer_offsets, outbox, processed_events
from services.router.routing.rules import load_routing
from shared.contracts import MessageReceived
from shared.contracts.outbound import ReplyStatusReported
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from shared.faults import fail_after
from shared.gctune import collect_after_batch
from shared.http import health_router, install_http_metrics, service_app
from shared.kafka.config import make_producer
from shared.kafka.consumer import ConsumerTables, TransactionalConsumer
from shared.kafka.deadletter import DeadLetters
from shared.kafka.producer import ResilientProducer
from shared.kafka.records import Record
from shared.outbox import OutboxRelay
from shared.outbox_purge import purge_forever
from shared.service import check_database, check_kafka
from shared.tasks import Loops, on_loop_death
from shared.telemetry import setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"
# Outbox rows per relay transaction: a consumed batch of 2000 messages writes about 4,000 to 5,000.
RELAY_BATCH = 5000


class UnknownEventTypeError(ValueError):
    pass


def create_app(settings: RouterSettings) -> FastAPI:
    setup_tracing("eenloket-router", otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    # A bad routing file stops the router here, with a message naming the problem.
    ctx = RouterContext(
        source=settings.source("eenloket-router"),
        timeline_topic=settings.topic_timeline,
        routing=load_routing(settings.routing_file),
        group=settings.consumer_group,
        outbound_topic=settings.topic_outbound,
        reply_token_key=settings.reply_token_key.get_secret_value().encode(),
    )

    async def handle_batch(session: AsyncSession, items: list[tuple[CloudEvent, Record]]) -> None:
        """Runs of messages are routed in bulk; commands one by one, in record order."""
        run: list[tuple[CloudEvent, Record]] = []
        for event, record in items:
            if event.type == MessageReceived.TYPE:
                run.append((event, record))
                continue
            await route_records(session, run, ctx)
            run = []
            await handle(session, event, record)
        await route_records(session, run, ctx)

    async def handle(session: AsyncSession, event: CloudEvent, record: Record) -> None:
        if event.type == MessageReceived.TYPE:
            await route_records(session, [(event, record)], ctx)
        elif event.type in COMMANDS:
            await handle_command(session, event, ctx)
        elif event.type == ReplyStatusReported.TYPE:
            await handle_status(session, event, ctx)
        else:
            raise UnknownEventTypeError(f"the router does not handle {event.type}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No pre-ping (three round trips before each of a batch's two transactions): a
        # connection the database closed is replaced at checkout, one lost silently fails a
        # batch, which the consumer rolls back and retries, or a relay round, retried too.
        engine = create_engine(settings.database_url, local_ping=True)
        sessions = session_factory(engine)
        producer = ResilientProducer(
            lambda: make_producer(
                settings.kafka_bootstrap, "eenloket-router", linger_ms=settings.kafka_linger_ms
            )
        )
        await producer.start()
        relay = OutboxRelay(
            sessions=sessions,
            table=outbox,
            producer=producer,
            batch_size=RELAY_BATCH,
            after_round=fail_after(settings, "outbox-relay"),  # None unless a test asks
        )
        fail = fail_after(settings, "router-consumer")

        def committed() -> None:
            relay.notify()
            collect_after_batch()
            if fail is not None:
                fail()

        consumers = [
            TransactionalConsumer(
                bootstrap=settings.kafka_bootstrap,
                group_id=settings.consumer_group,
                topics=[
                    settings.topic_inbound,
                    settings.topic_commands,
                    settings.topic_outbound_status,
                ],
                sessions=sessions,
                tables=ConsumerTables(offsets=consumer_offsets, processed=processed_events),
                handler=handle,
                batch_handler=handle_batch,
                dead_letters=DeadLetters(producer, settings.topic_deadletter),
                client_id="eenloket-router",
                max_records=settings.max_batch,
                linger=settings.consumer_linger_ms / 1000,
                linger_until=settings.consumer_linger_records,
                linger_rate=settings.consumer_linger_rate,
                on_commit=committed,
            )
            for _ in range(settings.consumers)
        ]
        for consumer in consumers:
            await consumer.start()
        loops = Loops(on_death=on_loop_death(app.state))  # liveness: docs/reliability.md
        for n, consumer in enumerate(consumers):
            loops.start("router-consumer" if n == 0 else f"router-consumer-{n}", consumer.run())
        loops.start("outbox-relay", relay.run())
        loops.start("outbox-purge", purge_forever(sessions, outbox, settings))
        loops.start(
            "gauges", gauges.run(engine, sessions, relay, every=settings.gauges_every_seconds)
        )
        app.state.readiness = {
            "database": lambda: check_database(engine),
            "kafka": lambda: check_kafka(producer.client),
            "loops": loops.check,
        }
        try:
            yield
        finally:
            await loops.stop()
            for consumer in consumers:
                await consumer.stop()
            await producer.stop()
            await engine.dispose()

    app = service_app(
        "Eenloket router",
        lifespan,
    )
    install_http_metrics(app)
    app.include_router(health_router(lambda: app.state.readiness))
    return app
