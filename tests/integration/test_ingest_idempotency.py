"""Idempotency keys have a retention window: within it a re-send is recognised, after it the
key counts as new and the periodic purge removes it (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from services.ingest.orm import idempotency_keys
from shared.db.engine import create_engine
from tests.apps import serve
from tests.support import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def settings(kafka_bootstrap, db_url, topics, tmp_path, **kw):
    return IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=db_url,
        topic_inbound=topics.inbound,
        attachment_dir=tmp_path / "attachments",
        idempotency_retention_days=7,
        **kw,
    )


async def age(db_url: str, submission: str, days: float) -> None:
    """Pretend the key of this submission was recorded ``days`` ago."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key.endswith(f":{submission}"))
                .values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        await engine.dispose()


async def keys_of(db_url: str, submission: str) -> list[uuid.UUID]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(idempotency_keys.c.message_id).where(
                    idempotency_keys.c.key.endswith(f":{submission}")
                )
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


def form(submission: str) -> dict[str, str]:
    return {"subject": "Vraag", "text": "Tekst", "submission_id": submission}


async def test_a_resend_within_the_window_is_recognised_after_it_is_new(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    submission = f"s-{uuid.uuid4()}"
    async with serve(create_app(settings(kafka_bootstrap, url, topics, tmp_path))) as client:
        first = (await client.post("/v1/channels/web", json=form(submission))).json()
        await age(url, submission, days=6.9)
        within = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert within == first | {"duplicate": True}
        await age(url, submission, days=7.1)
        after = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert after["duplicate"] is False
        assert after["message_id"] != first["message_id"]
        # ... and the window starts again from the new answer.
        again = (await client.post("/v1/channels/web", json=form(submission))).json()
        assert again == after | {"duplicate": True}


async def test_the_periodic_purge_removes_expired_keys_only(
    kafka_bootstrap, db_urls, topics, tmp_path
):
    url = db_urls["ingest"]
    old, fresh = f"s-{uuid.uuid4()}", f"s-{uuid.uuid4()}"
    app = create_app(
        settings(kafka_bootstrap, url, topics, tmp_path, idempotency_purge_interval_seconds=0.2)
    )
    async with serve(app) as client:
        for submission in (old, fresh):
            response = await client.post("/v1/channels/web", json=form(submission))
            assert response.status_code == 202
        await age(url, old, days=8)

        async def purged() -> bool:
            return not await keys_of(url, old)

        await eventually(purged, timeout=30)
        assert len(await keys_of(url, fresh)) == 1
        assert (await client.get("/readyz")).json()["checks"]["loops"] == "ok"
