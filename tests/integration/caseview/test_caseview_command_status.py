"""A command the router still rejects (a race caseview could not see) shows up for the person
who sent it: ``GET /v1/commands/{id}`` (the 202's ``Location``) answers accepted, applied or
rejected with the router's reason and a Dutch detail, to the sender and their team only.
With the real router on a real broker; and a command with text PostgreSQL cannot store,
published past caseview, is rejected by the router, not dead-lettered."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.caseview.rebuild import end_offsets
from services.router.bootstrap import create_app as create_router
from shared.contracts import (
    Channel,
    IdentifierKind,
    InboundMessage,
    MessageReceived,
    SenderIdentifier,
    Trust,
    to_cloudevent,
)
from shared.contracts import commands as c
from shared.envelope import CloudEvent, source_urn
from tests.apps import serve
from tests.integration.caseview.conftest import running, settings_for, token
from tests.support import eventually, read_topic, router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

INGEST = source_urn("00000000000000000000", "eenloket-ingest")
CASEVIEW = source_urn("00000000000000000000", "eenloket-caseview")


@contextlib.asynccontextmanager
async def router(kafka_bootstrap: str, url: str, topics: Any, group: str) -> AsyncIterator[None]:
    async with serve(create_router(router_settings(kafka_bootstrap, url, topics, group))):
        yield


async def _end(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` (the sum of its partitions' end offsets)."""
    return sum((await end_offsets(bootstrap, topic, f"t-{uuid.uuid4().hex[:8]}")).values())


async def _status(client: httpx.AsyncClient, url: str, headers: dict[str, str], want: str) -> Any:
    async def probe() -> Any:
        r = await client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        return body if body["status"] == want else None

    return await eventually(probe, timeout=60)


async def test_a_command_the_router_rejects_is_shown_to_its_sender(
    kafka_bootstrap, pg_urls, topics, producer
):
    group = f"router-{uuid.uuid4().hex[:8]}"
    message = InboundMessage(
        message_id=uuid.uuid4(),
        channel=Channel.WEB,
        received_at=datetime.now(UTC),
        sender=[
            SenderIdentifier(
                kind=IdentifierKind.EMAIL,
                value=f"{uuid.uuid4().hex}@example.org",
                trust=Trust.CLAIMED,
            )
        ],
        subject="Een vraag",
        text="Goedemiddag, een vraag",
    )
    inbound = to_cloudevent(
        MessageReceived(message=message),
        source=INGEST,
        subject=message.message_id,
        event_id=message.message_id,
    )
    sender = token(teams=["kcc"], roles=["kcc"])  # random user ids (conftest.token)
    colleague = token(teams=["kcc"], roles=["member"])
    stranger = token(teams=["handhaving"], roles=["member"])
    auditor = token(teams=["kcc"], roles=["auditor"])
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        http = cv.client
        async with router(kafka_bootstrap, pg_urls["router"], topics, group):
            await producer.send_and_wait(
                topics.inbound, inbound.to_json(), key=str(message.message_id).encode()
            )

            async def located() -> Any:
                r = await http.get(f"/v1/contacts/{message.message_id}", headers=sender)
                return r.json() if r.status_code == 200 else None

            contact = await eventually(located, timeout=60)
        case_id = contact["case_id"]
        case = (await http.get(f"/v1/cases/{case_id}", headers=sender)).json()
        assert case["owner_team"] == "kcc"

        # The router is away: two handovers race, both look fine against the read model.
        accepted = []
        for to_team in ("handhaving", "evenementen"):
            r = await http.post(
                f"/v1/cases/{case_id}/handovers",
                json={"to_team": to_team, "reason": f"Hoort bij {to_team}"},
                headers=sender,
            )
            assert r.status_code == 202, r.text
            assert r.headers["location"] == f"/v1/commands/{r.json()['command_id']}"
            accepted.append(r.headers["location"])
        first, second = accepted
        r = await http.get(second, headers=sender)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted"
        assert r.json()["type"] == c.HandOverCase.TYPE

        # Past caseview, straight onto the topic: text PostgreSQL cannot store.
        poisoned = CloudEvent(
            source=CASEVIEW,
            type=c.AddNote.TYPE,
            subject=case_id,
            data={"case_id": case_id, "text": "a\x00b", "by": {"user": "u-x", "team": "kcc"}},
        )
        await producer.send_and_wait(topics.commands, poisoned.to_json(), key=str(case_id).encode())

        async with router(kafka_bootstrap, pg_urls["router"], topics, group):
            applied = await _status(http, first, sender, "applied")
            rejected = await _status(http, second, sender, "rejected")
            records = await read_topic(kafka_bootstrap, topics.timeline, expect=6, timeout=60)

        # Need-to-know: the sender and their team; nobody else learns the command exists.
        assert (await http.get(second, headers=colleague)).status_code == 200
        assert (await http.get(second, headers=stranger)).status_code == 404
        assert (await http.get(second, headers=auditor)).status_code == 403
        assert (await http.get(f"/v1/commands/{uuid.uuid4()}", headers=sender)).status_code == 404

    assert applied["reason"] is None and applied["detail"] is None
    assert rejected["reason"] == "case is owned by 'handhaving', not 'kcc'"
    assert "handhaving" in rejected["detail"] and "eigenaar" in rejected["detail"]
    assert rejected["case_id"] == case_id
    events = [CloudEvent.from_json(r.value) for r in records]
    rejections = {
        e.data["command_id"]: e.data["reason"]
        for e in events
        if e.type == "nl.eenloket.command.rejected"
    }
    assert rejections[str(poisoned.id)].startswith("invalid command: text")
    assert await _end(kafka_bootstrap, topics.deadletter) == 0
