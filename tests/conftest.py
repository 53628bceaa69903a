"""Session-wide real infrastructure: one Kafka broker, one PostgreSQL server, migrated databases,
one Mailpit, one Keycloak."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from services.caseview.bootstrap import MIGRATIONS as CASEVIEW_MIGRATIONS
from services.ingest.bootstrap import MIGRATIONS as INGEST_MIGRATIONS
from services.notifications.bootstrap import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from services.outbound.bootstrap import MIGRATIONS as OUTBOUND_MIGRATIONS
from services.router.bootstrap import MIGRATIONS as ROUTER_MIGRATIONS
from shared.db.migrations import upgrade
from shared.kafka.topics import TopicSpec, ensure_topics
from tests import infra
from tests.support import session_database_name

MIGRATIONS = {
    "ingest": INGEST_MIGRATIONS,
    "router": ROUTER_MIGRATIONS,
    "caseview": CASEVIEW_MIGRATIONS,
    "outbound": OUTBOUND_MIGRATIONS,
    "notifications": NOTIFICATIONS_MIGRATIONS,
}


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with infra.kafka() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    with infra.postgres() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def mailpit() -> Iterator[infra.MailpitAddress]:
    """A real SMTP server with an inbox (read it with tests.mailpit.Mailpit)."""
    with infra.mailpit() as address:
        yield address


@pytest.fixture(scope="session")
def keycloak() -> Iterator[infra.KeycloakAddress]:
    """A real Keycloak with the eenloket realm (read it with tests.keycloak.Keycloak). Its first
    start on a machine fetches and builds it (a minute or two): integration tests only."""
    with infra.keycloak() as address:
        yield address


async def _create_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pg_urls(pg_dsn: str) -> dict[str, str]:
    """One migrated PostgreSQL database per service, shared by the session."""
    urls = {}
    for service, migrations in MIGRATIONS.items():
        name = session_database_name(service)
        await _create_database(pg_dsn, name)
        url = pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
        await asyncio.to_thread(upgrade, migrations, url)
        urls[service] = url
    return urls


@pytest.fixture(scope="session")
async def sqlite_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The embedded default: one migrated SQLite file per service."""
    folder: Path = tmp_path_factory.mktemp("sqlite")
    urls = {}
    for service, migrations in MIGRATIONS.items():
        url = f"sqlite+aiosqlite:///{folder / service}.db"
        await asyncio.to_thread(upgrade, migrations, url)
        urls[service] = url
    return urls


@pytest.fixture(params=["postgresql", "sqlite"])
def db_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Run a test on both backends."""
    fixture = "pg_urls" if request.param == "postgresql" else "sqlite_urls"
    urls: dict[str, str] = request.getfixturevalue(fixture)
    return urls


@dataclass(frozen=True)
class Topics:
    inbound: str
    timeline: str
    commands: str
    deadletter: str
    outbound: str
    outbound_status: str
    delivery_reports: str

    def env(self) -> dict[str, str]:
        return {
            "EENLOKET_TOPIC_INBOUND": self.inbound,
            "EENLOKET_TOPIC_TIMELINE": self.timeline,
            "EENLOKET_TOPIC_COMMANDS": self.commands,
            "EENLOKET_TOPIC_DEADLETTER": self.deadletter,
            "EENLOKET_TOPIC_OUTBOUND": self.outbound,
            "EENLOKET_TOPIC_OUTBOUND_STATUS": self.outbound_status,
            "EENLOKET_TOPIC_DELIVERY_REPORTS": self.delivery_reports,
        }


@pytest.fixture
async def topics(kafka_bootstrap: str) -> Topics:
    """Fresh topics per test, so tests never see each other's records."""
    suffix = uuid.uuid4().hex[:10]
    t = Topics(
        inbound=f"test.inbound.{suffix}",
        timeline=f"test.timeline.{suffix}",
        commands=f"test.commands.{suffix}",
        deadletter=f"test.deadletter.{suffix}",
        outbound=f"test.outbound.{suffix}",
        outbound_status=f"test.outbound-status.{suffix}",
        delivery_reports=f"test.delivery-reports.{suffix}",
    )
    await ensure_topics(
        kafka_bootstrap,
        [
            TopicSpec(t.inbound, 3),
            TopicSpec(t.timeline, 3),
            TopicSpec(t.commands, 3),
            TopicSpec(t.deadletter, 1),
            TopicSpec(t.outbound, 3),
            TopicSpec(t.outbound_status, 3),
            TopicSpec(t.delivery_reports, 3),
        ],
    )
    return t


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """In CI (EENLOKET_FAIL_ON_SKIP=1) a skipped test is a failed test: nothing runs quietly.

    One allowance: a test marked ``docker_engine`` (tests/unit/test_deploy_docker.py) may skip
    with "no Docker engine: ..." — CI's machines have none; the files it would start are
    checked without Docker by the other tests/unit/test_deploy_*.py."""
    outcome = yield
    report = outcome.get_result()
    allowed = item.get_closest_marker("docker_engine") is not None and "no Docker engine: " in str(
        report.longrepr
    )
    if report.skipped and os.environ.get("EENLOKET_FAIL_ON_SKIP") == "1" and not allowed:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed: {report.longrepr}"
