"""The publisher's consumer handler and worker on an embedded SQLite database, with a fake
component and a clock the test moves: order per hoofdObject, retries with back-off, the
ceiling (attempts, age) and gave_up; and the ZGW JWT and answer classes of the client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiokafka.structs import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.config import NotificationsSettings
from services.notifications.consume import Consume
from services.notifications.mapping import Urls
from services.notifications.metrics import GAVE_UP
from services.notifications.nrc import SendError, outcome_of, zgw_token
from services.notifications.orm import metadata, notifications
from services.notifications.worker import NotificationWorker, retry_after
from shared.contracts.base import Event, to_cloudevent
from shared.db.engine import create_engine, session_factory
from shared.envelope import source_urn
from tests.notificaties_events import Story
from tests.unit.test_outbound_worker import Clock

SECRET = "een-geheim-van-minstens-32-tekens-lang"
ROUTER = source_urn("00000000000000000000", "eenloket-router")
SETTINGS = NotificationsSettings(
    environment="test",
    nrc_url="http://nrc.test",
    max_attempts=3,
    max_age_seconds=3600,
    backoff_base_seconds=10,
    backoff_max_seconds=100,
)


class FakeNrc:
    """Takes every notification, or fails the next ones as told."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failures: list[SendError] = []

    def fail(self, times: int, *, permanent: bool = False) -> None:
        self.failures += [SendError("HTTP 503", permanent=permanent)] * times

    async def register_kanalen(self) -> list[str]:
        return []

    async def send(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(body)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def consume(sessions: async_sessionmaker[AsyncSession], events: list[Event]) -> None:
    handler = Consume(Urls("https://ki.test/api/v1", "https://cv.test/v1"))
    record = ConsumerRecord("t", 0, 0, 0, 0, None, b"", None, 0, 0, [])
    async with sessions() as session, session.begin():
        for event in events:
            await handler(
                session, to_cloudevent(event, source=ROUTER, subject=uuid.uuid4()), record
            )


def worker(
    sessions: async_sessionmaker[AsyncSession], nrc: FakeNrc, clock: Clock
) -> NotificationWorker:
    return NotificationWorker(
        sessions=sessions, nrc=nrc, settings=SETTINGS, clock=clock, uniform=lambda a, b: b
    )


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int]]:
    async with sessions() as session:
        n = notifications
        rows = await session.execute(select(n.c.status, n.c.attempts).order_by(n.c.seq))
        return [(r.status, r.attempts) for r in rows]


async def test_sent_in_timeline_order_one_per_hoofdobject_at_a_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    story = Story()
    await consume(sessions, [e for _, e in story.routed()] + [story.handed_over()])
    nrc, clock = FakeNrc(), Clock()
    w = worker(sessions, nrc, clock)
    # Partij, zaak and klantcontact first; the klantcontact's betrokkene and onderwerpobject
    # and the zaak's handover wait for the earlier notification of their hoofdObject.
    assert await w.run_once() == 3
    assert await w.run_once() == 2
    assert await w.run_once() == 1
    assert await w.run_once() == 0
    by_object: dict[str, list[str]] = {}
    for body in nrc.sent:
        by_object.setdefault(body["hoofdObject"], []).append(body["resource"] + ":" + body["actie"])
    assert by_object[f"https://cv.test/v1/cases/{story.case}"] == [
        "zaak:create",
        "zaak:partial_update",
    ]
    contact = f"https://ki.test/api/v1/klantcontacten/{story.message}"
    assert by_object[contact] == [
        "klantcontact:create",
        "betrokkene:create",
        "onderwerpobject:create",
    ]
    assert await statuses(sessions) == [("sent", 1)] * 6


async def test_a_failure_holds_its_hoofdobject_back_and_is_retried_after_the_backoff(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    story = Story()
    await consume(sessions, [story.case_opened(), story.handed_over()])
    nrc, clock = FakeNrc(), Clock()
    nrc.fail(1)
    w = worker(sessions, nrc, clock)
    assert await w.run_once() == 1
    assert await w.run_once() == 0  # the create is not due yet; the handover waits behind it
    clock.advance(retry_after(1, SETTINGS, lambda a, b: b))
    assert await w.run_once() == 1
    assert await w.run_once() == 1
    assert [b["actie"] for b in nrc.sent] == ["create", "partial_update"]
    assert await statuses(sessions) == [("sent", 2), ("sent", 1)]


async def test_given_up_at_the_attempts_ceiling_then_the_next_one_goes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    story = Story()
    await consume(sessions, [story.case_opened(), story.handed_over()])
    nrc, clock = FakeNrc(), Clock()
    nrc.fail(SETTINGS.max_attempts)
    w = worker(sessions, nrc, clock)
    before = GAVE_UP.labels("eenloket-zaken")._value.get()
    for _ in range(SETTINGS.max_attempts):
        assert await w.run_once() == 1
        clock.advance(SETTINGS.backoff_max_seconds)
    assert GAVE_UP.labels("eenloket-zaken")._value.get() == before + 1
    assert await w.run_once() == 1
    assert await statuses(sessions) == [("gave_up", 3), ("sent", 1)]


async def test_a_refused_notification_is_given_up_at_once_and_an_old_one_past_its_age(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    story = Story()
    await consume(sessions, [story.case_opened(), story.party_created()])
    nrc, clock = FakeNrc(), Clock()
    nrc.fail(1, permanent=True)
    w = worker(sessions, nrc, clock)
    nrc.fail(1)
    assert await w.run_once() == 2
    clock.advance(SETTINGS.max_age_seconds)
    assert await w.run_once() == 0  # due, but past its age: given up, not sent
    assert await statuses(sessions) == [("gave_up", 1), ("gave_up", 1)]
    assert nrc.sent == []


async def test_a_lease_that_ran_out_is_sent_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await consume(sessions, [Story().case_opened()])
    nrc, clock = FakeNrc(), Clock()
    w = worker(sessions, nrc, clock)
    assert len(await w._claim()) == 1  # a worker that died before recording the send
    assert await w.run_once() == 0
    clock.advance(SETTINGS.lease_seconds)
    assert await w.run_once() == 1
    assert await statuses(sessions) == [("sent", 2)]


async def test_sent_notifications_are_purged_after_the_retention_the_given_up_stay(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    story = Story()
    await consume(sessions, [e for _, e in story.routed()])
    nrc, clock = FakeNrc(), Clock()
    w = worker(sessions, nrc, clock)
    nrc.fail(1, permanent=True)  # the first one claimed is given up at once
    while await w.run_once():
        pass
    before = await statuses(sessions)
    assert before.count(("gave_up", 1)) == 1 and before.count(("sent", 1)) == len(before) - 1
    clock.advance(SETTINGS.sent_retention_hours * 3600 - 1)
    assert await w.purge_sent() == 0  # not yet
    clock.advance(2)
    assert await w.purge_sent() == len(before) - 1
    assert await statuses(sessions) == [("gave_up", 1)]


def test_the_backoff_doubles_to_its_maximum_with_jitter() -> None:
    assert retry_after(1, SETTINGS, lambda a, b: b) == 10
    assert retry_after(3, SETTINGS, lambda a, b: b) == 40
    assert retry_after(30, SETTINGS, lambda a, b: a) == 50  # the maximum, jittered to half


def test_the_zgw_jwt_names_the_client_and_is_signed_with_its_secret() -> None:
    token = zgw_token("eenloket", SECRET, now=1_700_000_000)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == claims["client_id"] == "eenloket"
    assert claims["iat"] == 1_700_000_000
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (200, None),
        (201, None),
        (400, True),
        (404, True),
        (401, False),
        (403, False),
        (429, False),
        (500, False),
        (503, False),
    ],
)
def test_answers_are_sent_permanent_or_temporary(status: int, permanent: bool | None) -> None:
    error = outcome_of(httpx.Response(status))
    assert (None if error is None else error.permanent) == permanent
