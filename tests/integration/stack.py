"""Ingest and router in one test, on the session's real broker and PostgreSQL, with the
timeline read in the background: what the cross-service tests of trust and continuity use
(fixture ``stack`` in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.ingest.auth import Integration, hash_key
from services.ingest.bootstrap import create_app
from services.ingest.config import IngestSettings
from shared.contracts import Actor, Channel
from shared.envelope import CloudEvent
from tests.apps import serve
from tests.integration.test_router import router
from tests.support import eventually

NOW = "2026-04-06T09:30:00+02:00"
GATEWAY = "mx.gemeente.example"  # the municipality's mail gateway (its authserv-id)
CLERK = Actor(user="medewerker-7", team="kcc")
KEYS = {  # integration -> (key, channels, may assert logins)
    "portal": ("t-portal", {Channel.WEB}, True),
    "gateway": ("t-gateway", {Channel.EMAIL}, False),
    "app": ("t-app", {Channel.APP}, True),
    "chat": ("t-chat", {Channel.CHAT}, False),
    "telephony": ("t-phone", {Channel.PHONE}, False),
    "balie": ("t-balie", {Channel.COUNTER}, True),
    "mailroom": ("t-post", {Channel.LETTER}, False),
}


def key(name: str) -> dict[str, str]:
    return {"X-Api-Key": KEYS[name][0]}


class Timeline:
    """``omni.timeline.v1`` read from the start in the background; waits with deadlines."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.events: list[CloudEvent] = []
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )

    async def __aenter__(self) -> Timeline:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        async for record in self._consumer:
            self.events.append(CloudEvent.from_json(record.value or b""))

    async def first(
        self, what: str, match: Any = lambda e: True, timeout: float = 30.0
    ) -> CloudEvent:
        async def found() -> CloudEvent | None:
            return next(
                (e for e in self.events if e.type == f"nl.eenloket.{what}" and match(e)), None
            )

        return await eventually(found, timeout=timeout, interval=0.05)

    async def routed(self, message_id: str) -> CloudEvent:
        return await self.first("message.routed", lambda e: e.data["message_id"] == message_id)

    def of(self, party: str | None, what: str) -> list[CloudEvent]:
        return [e for e in self.events if e.subject == party and e.type == f"nl.eenloket.{what}"]


@contextlib.asynccontextmanager
async def running(
    kafka_bootstrap: str,
    pg_urls: dict[str, str],
    topics: Any,
    tmp_path: Path,
    producer: AIOKafkaProducer,
) -> AsyncIterator[tuple[Any, Timeline, Any, AIOKafkaProducer]]:
    settings = IngestSettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_urls["ingest"],
        topic_inbound=topics.inbound,
        allow_anonymous=False,
        api_keys={
            name: Integration(
                sha256=hash_key(k),
                channels=frozenset(ch),
                may_assert_login=login,
                may_assert_caller_id=name == "telephony",
                trusted_authserv_ids=frozenset({GATEWAY} if name == "gateway" else ()),
            )
            for name, (k, ch, login) in KEYS.items()
        },
        attachment_dir=tmp_path / "attachments",
    )
    async with (
        serve(create_app(settings)) as ingest,
        router(kafka_bootstrap, pg_urls["router"], topics),
        Timeline(kafka_bootstrap, topics.timeline) as timeline,
    ):
        yield ingest, timeline, topics, producer


async def post(ingest: Any, path: str, name: str, body: Any) -> str:
    if isinstance(body, bytes):
        headers = key(name) | {"Content-Type": "message/rfc822"}
        response = await ingest.post(f"/v1/channels/{path}", content=body, headers=headers)
    else:
        response = await ingest.post(f"/v1/channels/{path}", json=body, headers=key(name))
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])
