"""The three-step writes (services/caseview/klantinteracties/drafts.py, steps.py, settle.py):
when a draft is complete, the message it becomes (anonymous without a betrokkene), the 201
bodies in the document's shape; and the task's round on SQLite with a fake Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.caseview.config import CaseviewSettings
from services.caseview.klantinteracties import drafts
from services.caseview.klantinteracties.mapping import Urls
from services.caseview.klantinteracties.settle import settle_round
from services.caseview.klantinteracties.steps import betrokkene_body, klantcontact_body
from shared.contracts import Channel, Evidence, IdentifierKind
from shared.db.engine import create_engine, session_factory
from shared.identifiers import sender_identifiers
from tests.klantinteracties import schema_errors

AT = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
URLS = Urls(base="https://eenloket.example/klantinteracties/api/v1", teams={})


def draft(**changes: Any) -> SimpleNamespace:
    """A row of facade_drafts: a klantcontact without its betrokkene and onderwerpobject."""
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "integration": "kcc-app",
        "channel": "phone",
        "subject": "Afspraak",
        "text": "Belt over de afspraak",
        "language": "nl",
        "confidential": False,
        "contact_made": False,
        "received_at": AT,
        "betrokkene_at": None,
        "party_id": None,
        "sender": None,
        "display_name": None,
        "case_id": None,
        "case_number": None,
        "created_at": AT,
        "updated_at": AT,
        "published_at": None,
    }
    return SimpleNamespace(**{**row, **changes})


def with_betrokkene(**changes: Any) -> SimpleNamespace:
    bsn = sender_identifiers(
        [(IdentifierKind.BSN, "123456782")], {IdentifierKind.BSN: Evidence.ID_DOCUMENT}
    )
    return draft(
        betrokkene_at=AT,
        party_id=uuid.uuid4(),
        sender=[s.model_dump(mode="json") for s in bsn],
        display_name="Anna de Vries",
        **changes,
    )


def test_a_draft_is_complete_with_its_betrokkene_and_its_onderwerpobject() -> None:
    case = {"case_id": uuid.uuid4(), "case_number": "Z-2026-000001"}
    assert not drafts.complete(draft())
    assert not drafts.complete(with_betrokkene())
    assert not drafts.complete(draft(**case))
    assert drafts.complete(with_betrokkene(**case))
    # A betrokkene without partij counts: it was attached.
    assert drafts.complete(draft(betrokkene_at=AT, **case))


def test_the_message_carries_the_sender_as_attached_and_the_case_as_hint() -> None:
    d = with_betrokkene(case_id=uuid.uuid4(), case_number="Z-2026-000001")
    m = drafts.message_of(d)
    assert (m.message_id, m.channel, m.received_at) == (d.id, Channel.PHONE, AT)
    assert [(s.value, s.trust, s.evidence) for s in m.sender] == [
        ("123456782", "authenticated", "id-document")
    ]
    assert (m.display_name, m.case_number_hint, m.language) == (
        "Anna de Vries",
        "Z-2026-000001",
        "nl",
    )
    assert m.channel_message_id == f"klantinteracties:kcc-app:{d.id}"


def test_without_a_betrokkene_it_is_an_anonymous_contact_of_its_kanaal() -> None:
    m = drafts.message_of(draft(subject=""))
    assert m.sender == [] and m.display_name is None and m.subject is None


def test_the_201_bodies_conform_to_the_document() -> None:
    bare = klantcontact_body(URLS, draft())
    assert bare["hadBetrokkenen"] == [] and bare["gingOverOnderwerpobjecten"] == []
    assert (bare["taal"], bare["indicatieContactGelukt"]) == ("nld", False)
    assert not schema_errors("/klantcontacten", "post", 201, bare)
    full = with_betrokkene(case_id=uuid.uuid4(), case_number="Z-2026-000001")
    assert not schema_errors("/klantcontacten", "post", 201, klantcontact_body(URLS, full))
    b = betrokkene_body(URLS, full)
    assert b["wasPartij"]["uuid"] == str(full.party_id)
    assert not schema_errors("/betrokkenen", "post", 201, b)
    anonymous = betrokkene_body(URLS, draft(betrokkene_at=AT))
    assert "wasPartij" not in anonymous
    assert not schema_errors("/betrokkenen", "post", 201, anonymous)


class FakeProducer:
    """Kafka for ``publish``: acknowledges each send, or fails while ``away``."""

    def __init__(self) -> None:
        self.away = False
        self.sent: list[uuid.UUID] = []

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[None]:
        if self.away:
            raise KafkaConnectionError()
        self.sent.append(uuid.UUID(orjson.loads(kwargs["value"])["id"]))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'caseview.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(drafts.facade_drafts.create)
    yield session_factory(engine)
    await engine.dispose()


async def test_the_task_publishes_what_is_due_and_retries_while_kafka_is_away(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    case = {"case_id": uuid.uuid4(), "case_number": "Z-2026-000001"}
    # Complete, and the completing request's publish timeout (10 s) is over: the task's.
    complete = with_betrokkene(updated_at=now - timedelta(seconds=11), **case)
    completing = with_betrokkene(updated_at=now, **case)  # its request still publishes it
    fresh = with_betrokkene(updated_at=now)  # incomplete, changed just now: it waits
    settled = draft(updated_at=now - timedelta(seconds=31))  # incomplete, past the window
    elsewhere = with_betrokkene(updated_at=now, integration="ander", **case)
    rows = [complete, completing, fresh, settled, elsewhere]
    async with sessions() as session:
        await session.execute(insert(drafts.facade_drafts), [vars(r) for r in rows])
        await session.commit()
    settings = CaseviewSettings(klantinteracties_settle_seconds=30)
    kafka = FakeProducer()

    def round_() -> Any:
        return settle_round(sessions, settings, kafka, ["kcc-app"], clock=lambda: now)

    kafka.away = True
    assert await round_() == 0  # nothing acknowledged, nothing marked: tried again next round
    gauge = REGISTRY.get_sample_value
    assert gauge("eenloket_klantinteracties_drafts_waiting") == 5
    assert gauge("eenloket_klantinteracties_oldest_draft_seconds") == (now - AT).total_seconds()
    kafka.away = False
    assert await round_() == 2
    assert sorted(kafka.sent) == sorted([complete.id, settled.id])
    assert await round_() == 0 and len(kafka.sent) == 2  # published once
    async with sessions() as session:
        waiting = {
            r.id
            for r in await session.execute(
                select(drafts.D.id).where(drafts.D.published_at.is_(None))
            )
        }
    assert waiting == {completing.id, fresh.id, elsewhere.id}


async def test_the_task_deletes_its_drafts_published_longer_ago_than_the_retention(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = AT + timedelta(days=30)
    old = with_betrokkene(published_at=now - timedelta(hours=169))  # past a week: deleted
    recent = with_betrokkene(published_at=now - timedelta(hours=167))  # within it: kept
    elsewhere = with_betrokkene(published_at=now - timedelta(days=20), integration="ander")
    rows = [old, recent, elsewhere]
    async with sessions() as session:
        await session.execute(insert(drafts.facade_drafts), [vars(r) for r in rows])
        await session.commit()
    settings = CaseviewSettings(klantinteracties_draft_retention_hours=168)
    # Only this caseview's integrations' drafts: another's are its own task's (several
    # caseviews share a database in the tests; in production every replica serves all).
    assert (
        await settle_round(sessions, settings, FakeProducer(), ["kcc-app"], clock=lambda: now) == 0
    )
    async with sessions() as session:
        left = {r.id for r in await session.execute(select(drafts.D.id))}
    assert left == {recent.id, elsewhere.id}
