"""Composition root of caseview: the timeline projector and the query API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview import api, console, messages, mijn_zaken
from services.caseview.auth import TokenValidator
from services.caseview.config import CaseviewSettings
from services.caseview.klantinteracties.auth import Integrations
from services.caseview.klantinteracties.related import router as klantinteracties_related
from services.caseview.klantinteracties.routes import router as klantinteracties
from services.caseview.klantinteracties.settle import run as settle_drafts
from services.caseview.klantinteracties.steps import router as klantinteracties_steps
from services.caseview.klantinteracties.writes import router as klantinteracties_writes
from services.caseview.orm import consumer_offsets, processed_events
from services.caseview.projector import project, project_batch
from services.caseview.replies.templates import load_templates
from services.caseview.teams import load_team_names
from services.caseview.timeline.live import Pulse
from shared.attachments import open_attachment_store
from shared.db.engine import create_engine, session_factory
from shared.envelope import CloudEvent
from shared.faults import fail_after
from shared.http import (
    Problem,
    health_router,
    install_http_metrics,
    problem_response,
    service_app,
)
from shared.kafka.config import make_producer
from shared.kafka.consumer import (
    BatchHandler,
    ConsumerTables,
    TransactionalConsumer,
    record_span,
)
from shared.kafka.deadletter import DeadLetters
from shared.kafka.producer import ResilientProducer
from shared.kafka.records import Record
from shared.service import check_database, check_kafka
from shared.settings import PLACEHOLDER_SECRET
from shared.tasks import Loops, on_loop_death
from shared.telemetry import instrument_http, setup_tracing

MIGRATIONS = Path(__file__).parent / "migrations"


async def _handle(session: AsyncSession, event: CloudEvent, record: Record) -> None:
    await project(session, event)


def _handle_batch(group: str) -> BatchHandler:
    async def handle(session: AsyncSession, items: list[tuple[CloudEvent, Record]]) -> None:
        await project_batch(
            session,
            [event for event, _ in items],
            span=lambda n: record_span(items[n][1], items[n][0], group),
        )

    return handle


def create_app(settings: CaseviewSettings) -> FastAPI:
    setup_tracing("eenloket-caseview", otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    tokens = TokenValidator(settings)  # fails at start, not at the first request
    team_names = load_team_names(settings.routing_file)  # likewise: the teams commands may name
    teams = frozenset(team_names)
    templates = load_templates(settings.templates_file)  # a template that cannot render stops it
    integrations = Integrations.load(  # likewise: a bad integrations file stops it
        settings.klantinteracties_integrations, settings.klantinteracties_integrations_file
    )
    if (
        integrations.write
        and settings.environment == "production"
        and settings.sender_key_secret.get_secret_value() == PLACEHOLDER_SECRET
    ):
        raise ValueError("EENLOKET_SENDER_KEY_SECRET must be set: an integration may write")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # #22: the pool keeps every connection it may open (40, as 20 + 20 overflow did
        # before): an overflow connection was closed on its return and opened again, which
        # at 64 readers cost PostgreSQL 2-3x its CPU per read. No pre-ping per request
        # (shared/db/engine.py).
        engine = create_engine(settings.database_url, pool_size=40, max_overflow=0, local_ping=True)
        sessions = session_factory(engine)
        producer = ResilientProducer(
            lambda: make_producer(
                settings.kafka_bootstrap, "eenloket-caseview", linger_ms=settings.kafka_linger_ms
            )
        )
        await producer.start()
        pulse = Pulse()
        fail = fail_after(settings, "caseview-projector")  # None unless a test asks

        def committed() -> None:
            pulse.fire()  # wakes the live streams of this replica
            if fail is not None:
                fail()

        consumer = TransactionalConsumer(
            bootstrap=settings.kafka_bootstrap,
            group_id=settings.consumer_group,
            topics=[settings.topic_timeline],
            sessions=sessions,
            tables=ConsumerTables(offsets=consumer_offsets, processed=processed_events),
            handler=_handle,
            batch_handler=_handle_batch(settings.consumer_group),
            dead_letters=DeadLetters(producer, settings.topic_deadletter),
            client_id="eenloket-caseview",
            max_records=settings.max_batch,
            linger=settings.consumer_linger_ms / 1000,
            linger_until=settings.consumer_linger_records,
            linger_rate=settings.consumer_linger_rate,
            on_commit=committed,
        )
        await consumer.start()
        loops = Loops(on_death=on_loop_death(app.state))  # liveness: docs/reliability.md
        loops.start("caseview-projector", consumer.run())
        app.state.sessions = sessions
        app.state.settings = settings
        app.state.tokens = tokens
        app.state.teams = teams
        app.state.team_names = team_names
        app.state.templates = templates
        app.state.integrations = integrations
        app.state.attachments = open_attachment_store(settings)  # cases/attachments.py
        app.state.producer = producer
        app.state.pulse = pulse
        app.state.readiness = {
            "database": lambda: check_database(engine),
            "kafka": lambda: check_kafka(producer.client),
            "loops": loops.check,
        }
        if integrations.write:  # contacts registered in steps (klantinteracties/steps.py)
            loops.start(
                "klantcontact-drafts",
                settle_drafts(sessions, settings, producer, integrations.writers),
            )
        try:
            yield
        finally:
            await loops.stop()
            await consumer.stop()
            await producer.stop()
            await engine.dispose()

    app = service_app(
        "Eenloket caseview",
        lifespan,
        summary="One unified history per resident and per case, for every department.",
        description="Every /v1 endpoint needs an OIDC bearer token (JWT) whose claims carry "
        "the user's `teams` and `roles`. Errors are RFC 9457 problem documents. Lists are "
        "keyset-paginated (`next_cursor`). Reads of party data are written to the access log.",
    )
    messages.install_validation_handler(app)  # a Dutch detail naming the fields
    answer_lost_connections(app)
    install_http_metrics(app)
    app.include_router(api.router)
    app.include_router(klantinteracties)  # docs/klantinteracties.md; not in /v1's document
    app.include_router(klantinteracties_writes)
    app.include_router(klantinteracties_steps)
    app.include_router(klantinteracties_related)
    app.include_router(health_router(lambda: app.state.readiness))
    console.install(app, settings)  # the contact-centre console at /console (docs/console.md)
    mijn_zaken.install(app, settings)  # the resident's pages at /mijn-zaken (docs/resident.md)
    instrument_http(app)
    return app


def answer_lost_connections(app: FastAPI) -> None:
    """A statement on a connection the database dropped (restart, failover; no pre-ping,
    shared/db/engine.py) is a 503 the client may retry at once: SQLAlchemy has invalidated
    the pool, so the next read connects afresh. Any other database error stays a 500."""

    @app.exception_handler(DBAPIError)
    async def _lost(request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated:
            raise exc  # the generic handler: 500
        problem = Problem(
            title="Database connection lost",
            status=503,
            detail="The database dropped the connection; retry the request.",
            instance=request.url.path,
        )
        return problem_response(problem, {"Retry-After": "1"})
