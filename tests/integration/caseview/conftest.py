"""Caseview test kit: building a party's timeline events, running caseview in-process,
minting tokens, and waiting until events are projected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import hypothesis
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from hypothesis import HealthCheck
from sqlalchemy import func, select

from services.caseview import orm
from services.caseview.auth import mint_token
from services.caseview.bootstrap import MIGRATIONS, create_app
from services.caseview.config import CaseviewSettings
from shared.contracts import (
    Actor,
    CaseOpened,
    Channel,
    Event,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    RoutingExplanation,
    to_cloudevent,
)
from shared.contracts.inbound import AttachmentRef
from shared.db.engine import create_engine, session_factory
from shared.db.migrations import upgrade
from shared.envelope import CloudEvent, source_urn
from shared.kafka.config import make_producer
from shared.kafka.topics import TopicSpec, ensure_topics
from tests.apps import serve
from tests.infra import KeycloakAddress
from tests.keycloak import Keycloak
from tests.support import eventually

SOURCE = source_urn("00000000000000000000", "eenloket-router")
STAFF = Actor(user="u-test", team="kcc")


@dataclass
class Party:
    """One party's history on the topic: its id, next sequence, and a clock for event times."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    sequence: int = 0
    clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))

    def at(self) -> datetime:
        """The time of the next event: call it while building the payload."""
        self.clock += timedelta(seconds=1)
        return self.clock

    def event(self, payload: Event, *, event_id: uuid.UUID | None = None) -> CloudEvent:
        self.sequence += 1
        return to_cloudevent(
            payload,
            source=SOURCE,
            subject=self.id,
            sequence=self.sequence,
            time=self.clock,
            event_id=event_id,
        )

    def created(self, name: str | None, *identifiers: tuple[str, str, str]) -> CloudEvent:
        return self.event(
            PartyCreated(
                party_id=self.id,
                provisional=not identifiers,
                display_name=name,
                identifiers=[
                    PartyIdentifier.model_validate({"kind": k, "value": v, "trust": t})
                    for k, v, t in identifiers
                ],
                created_at=self.at(),
            )
        )

    def case(
        self,
        product: str,
        owner: str,
        *,
        confidential: bool = False,
        due_at: datetime | None = None,
        case_id: uuid.UUID | None = None,
    ) -> tuple[uuid.UUID, str, CloudEvent]:
        case_id = case_id or uuid.uuid4()
        number = f"ZAAK-2026-{uuid.uuid4().int % 10**10:010d}"
        event = self.event(
            CaseOpened(
                case_id=case_id,
                case_number=number,
                party_id=self.id,
                product=product,
                confidential=confidential,
                owner_team=owner,
                status="open",
                opened_at=self.at(),
                due_at=due_at,
            )
        )
        return case_id, number, event

    def message(
        self,
        case_id: uuid.UUID,
        number: str,
        channel: Channel,
        text: str,
        *,
        owner: str = "kcc",
        subject: str | None = None,
        attachments: list[AttachmentRef] | None = None,
    ) -> CloudEvent:
        return self.event(
            MessageRouted(
                message_id=uuid.uuid4(),
                party_id=self.id,
                case_id=case_id,
                case_number=number,
                channel=channel,
                received_at=self.at(),
                display_name=None,
                subject=subject,
                text=text,
                attachments=attachments or [],
                owner_team=owner,
                explanation=RoutingExplanation(
                    case_rule="new-case",
                    case_detail="no open case",
                    owner_rule="product",
                    owner_detail=f"product -> {owner}",
                    ruleset_version="test-1",
                    matched=["test"],
                ),
            )
        )


def token(user: str | None = None, *, teams: list[str], roles: list[str]) -> dict[str, str]:
    """Authorization header with a dev token."""
    return {
        "Authorization": "Bearer "
        + mint_token(user or f"u-{uuid.uuid4().hex[:8]}", teams=teams, roles=roles)
    }


def team_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def routing_file(folder: Path, *teams: str) -> Path:
    """A routing file whose teams caseview knows (EENLOKET_ROUTING_FILE): random test teams."""
    path = folder / f"routing-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(json.dumps({"teams": {t: t for t in teams}}), encoding="utf-8")
    return path


@pytest.fixture
async def kc(keycloak: KeycloakAddress) -> AsyncIterator[Keycloak]:
    """A client of the session's Keycloak (tests.keycloak)."""
    client = Keycloak(keycloak)
    yield client
    await client.aclose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(kafka_bootstrap, "test")
    await p.start()
    yield p
    await p.stop()


async def send(producer: AIOKafkaProducer, topic: str, *events: CloudEvent) -> None:
    for e in events:
        await producer.send_and_wait(topic, e.to_json(), key=str(e.subject).encode())


def settings_for(url: str, kafka_bootstrap: str, topics: Any, **extra: Any) -> CaseviewSettings:
    return CaseviewSettings(
        environment="test",
        database_url=url,
        kafka_bootstrap=kafka_bootstrap,
        topic_timeline=topics.timeline,
        topic_commands=topics.commands,
        topic_deadletter=topics.deadletter,
        consumer_group=f"cv-{uuid.uuid4().hex[:8]}",
        sse_poll_seconds=0.2,
        **extra,
    )


@dataclass
class Caseview:
    client: httpx.AsyncClient
    settings: CaseviewSettings
    app: FastAPI

    async def projected(self, *events: CloudEvent, timeout: float = 60) -> None:
        await projected(self.settings, *events, timeout=timeout)


async def projected(settings: CaseviewSettings, *events: CloudEvent, timeout: float = 60) -> None:
    """Wait until every event was applied by this caseview's consumer group."""
    ids = [e.id for e in events]
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    p = orm.processed_events

    async def done() -> bool:
        async with sessions() as s:
            n = await s.scalar(
                select(func.count())
                .select_from(p)
                .where(p.c.consumer_group == settings.consumer_group, p.c.event_id.in_(ids))
            )
        return n == len(ids)

    try:
        await eventually(done, timeout=timeout)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(settings: CaseviewSettings) -> AsyncIterator[Caseview]:
    app = create_app(settings)
    async with serve(app) as client:
        yield Caseview(client, settings, app)


@contextlib.asynccontextmanager
async def trusting_realm(
    issuer: str,
    url: str,
    kafka_bootstrap: str,
    topics: Any,
    producer: AIOKafkaProducer,
    created: CloudEvent,
    **extra: Any,
) -> AsyncIterator[Caseview]:
    """Caseview trusting a Keycloak realm (keys through discovery), with ``created`` (a
    party) projected."""
    settings = settings_for(
        url, kafka_bootstrap, topics, oidc_issuer=issuer, oidc_discovery=True, **extra
    )
    async with running(settings) as cv:
        await send(producer, topics.timeline, created)
        await cv.projected(created)
        yield cv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_topics() -> SimpleNamespace:
    """Topic names of its own for a module-scoped caseview (the ``topics`` fixture is per
    test); ``threaded_server`` makes them."""
    suffix = uuid.uuid4().hex[:8]
    return SimpleNamespace(
        **{t: f"test.{t}.{suffix}" for t in ("timeline", "commands", "deadletter")}
    )


def bounded(examples: int) -> hypothesis.settings:
    """Hypothesis settings of a schemathesis run against a module's server: ``examples`` per
    operation, no deadline (a request to a real database and broker), fixtures allowed."""
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@contextlib.contextmanager
def threaded_server(
    settings: CaseviewSettings, ready: Callable[[], Awaitable[None]] | None = None
) -> Iterator[str]:
    """Caseview on a real socket in a thread of its own (schemathesis calls synchronously),
    its topics made; ``ready`` (e.g. seeding) runs once it serves, before the url is given."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    done = threading.Event()

    async def main() -> None:
        topics = [settings.topic_timeline, settings.topic_commands, settings.topic_deadletter]
        await ensure_topics(settings.kafka_bootstrap, [TopicSpec(t, 1) for t in topics])
        serving = asyncio.create_task(server.serve())
        await eventually(lambda: _started(server), timeout=60)
        if ready is not None:
            await ready()
        done.set()
        await serving

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while not done.is_set():
        assert thread.is_alive() and time.monotonic() < deadline, "caseview did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.asynccontextmanager
async def http_server(settings: CaseviewSettings) -> AsyncIterator[str]:
    """Caseview on a real socket (streaming responses need one; ASGITransport buffers)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: _started(server), timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.fixture(params=["postgresql", "sqlite"])
async def fresh_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of its own (the rebuild replaces every projection row in its database)."""
    name = f"cv_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cv') / name}.db"
    else:
        return await pg_database(request.getfixturevalue("pg_dsn"), name)
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    return url


async def pg_database(dsn: str, name: str) -> str:
    """A migrated caseview database of its own on the test PostgreSQL; its SQLAlchemy URL."""
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    return url
