"""Live updates over Server-Sent Events, on a real socket: a subscribed client gets new
events; a client that reconnects with Last-Event-ID gets what it missed, without gaps."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from shared.contracts import Channel, NoteAdded
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    http_server,
    projected,
    send,
    settings_for,
    team_name,
    token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class Frame:
    id: int
    event: str
    data: dict[str, Any]


class Stream:
    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, timeout: float = 30) -> Frame:
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if "data" in fields:
                        return Frame(
                            int(fields["id"]), fields["event"], orjson.loads(fields["data"])
                        )
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue  # a comment: keep-alive
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("stream ended")


@contextlib.asynccontextmanager
async def subscribe(
    base: str, path: str, headers: dict[str, str], last_event_id: int | None = None
) -> AsyncIterator[Stream]:
    if last_event_id is not None:
        headers = {**headers, "Last-Event-ID": str(last_event_id)}
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response.aiter_lines())


async def test_sse_delivers_new_events_and_resumes_after_reconnect(
    kafka_bootstrap, pg_urls, topics, producer
):
    team = team_name()
    p = Party()
    case_id, number, opened = p.case("afval", team)
    setup = [p.created("Live Test"), opened]
    await send(producer, topics.timeline, *setup)
    settings = settings_for(pg_urls["caseview"], kafka_bootstrap, topics)
    member = token(teams=[team], roles=["member"])
    async with http_server(settings) as base:
        await projected(settings, *setup)

        async with (
            subscribe(base, f"/v1/parties/{p.id}/events", member) as party_stream,
            subscribe(base, f"/v1/teams/{team}/events", member) as team_stream,
            subscribe(base, f"/v1/cases/{case_id}/events", member) as case_stream,
        ):
            first = p.message(case_id, number, Channel.CHAT, "Eerste bericht", owner=team)
            await send(producer, topics.timeline, first)
            frames = [await s.next() for s in (party_stream, team_stream, case_stream)]
            for frame in frames:
                assert frame.event == "nl.eenloket.message.routed"
                assert frame.data["event_id"] == str(first.id)
                assert frame.data["data"]["text"] == "Eerste bericht"
            assert len({f.id for f in frames}) == 1
            resume_at = frames[0].id

        # While nobody listens, two more events arrive.
        missed = [
            p.message(case_id, number, Channel.EMAIL, "Tweede", owner=team),
            p.event(
                NoteAdded(
                    note_id=uuid.uuid4(),
                    case_id=case_id,
                    party_id=p.id,
                    text="Derde",
                    by=STAFF,
                    at=p.at(),
                )
            ),
        ]
        await send(producer, topics.timeline, *missed)
        async with subscribe(
            base, f"/v1/parties/{p.id}/events", member, last_event_id=resume_at
        ) as resumed:
            got = [await resumed.next(), await resumed.next()]
            assert [f.data["event_id"] for f in got] == [str(e.id) for e in missed]
            assert resume_at < got[0].id < got[1].id
            # And it stays live after catching up.
            later = p.message(case_id, number, Channel.APP, "Vierde", owner=team)
            await send(producer, topics.timeline, later)
            assert (await resumed.next()).data["event_id"] == str(later.id)

        # Need-to-know applies to the stream, and so do the access rules.
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await client.get(f"/v1/parties/{p.id}/events")
            assert r.status_code == 401
            r = await client.get(
                f"/v1/teams/{team}/events", headers=token(teams=["other"], roles=["member"])
            )
            assert r.status_code == 403
            r = await client.get(
                f"/v1/parties/{p.id}/events", headers={**member, "Last-Event-ID": "abc"}
            )
            assert r.status_code == 400
            r = await client.get(f"/v1/parties/{uuid.uuid4()}/events", headers=member)
            assert r.status_code == 404
