"""Live updates (Server-Sent Events) from the timeline table, resumable by ``Last-Event-ID``.

The SSE id is the entry's ``position``, assigned in commit order (projector.py),
so "everything after id N" has no gaps. Streams read the database, not the
consumer: a replica serves streams for every partition, whichever replica
projected them. The local projector's commits wake the streams at once
(``Pulse``); other replicas' commits are seen within ``sse_poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any, Protocol, TypeVar

import orjson
from fastapi import Depends, Header, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.caseview.timeline.models import FeedItem
from services.caseview.timeline.queries import head_position
from services.caseview.web import settings
from shared.http import ProblemError

BATCH = 200


class Positioned(Protocol):
    """What a stream sends: anything with its timeline position (the SSE id)."""

    @property
    def position(self) -> int: ...


P = TypeVar("P", bound=Positioned)


class Pulse:
    """Wakes every waiting stream when the local projector committed a batch."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 - a poll interval
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


def parse_last_event_id(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > 2**63 - 1:
        raise ValueError("Last-Event-ID must be an id this stream sent")
    return int(text)


def format_event(item: FeedItem) -> bytes:
    data = orjson.dumps(item.entry.model_dump(mode="json"))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (item.position, item.entry.type.encode(), data)


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, int, int], Awaitable[Sequence[P]]],
    *,
    start: int,
    pulse: Pulse,
    poll_seconds: float,
    heartbeat_seconds: float,
    max_seconds: float,
    encode: Callable[[P], bytes],
) -> AsyncIterator[bytes]:
    """Yield SSE frames for entries after ``start`` until ``max_seconds`` passed.

    Ending a stream now and then is deliberate: the client reconnects with
    Last-Event-ID (EventSource does so by itself) and is re-authorised.
    """
    last = start
    began = time.monotonic()
    beat = began + heartbeat_seconds
    # The retry hint, and an early first frame so proxies pass the headers on.
    yield b"retry: 2000\n: stream open\n\n"
    while (now := time.monotonic()) - began < max_seconds:
        async with sessions() as session:
            items = await fetch(session, last, BATCH)
        for item in items:
            last = item.position
            yield encode(item)
        if len(items) == BATCH:
            continue  # catching up: no pause
        now = time.monotonic()
        if now >= beat:
            yield b": keep-alive\n\n"
            beat = now + heartbeat_seconds
        await pulse.wait(min(poll_seconds, max(0.0, max_seconds - (now - began))))


# --- the HTTP side of a stream -----------------------------------------------------------

Fetch = Callable[[AsyncSession, int, int], Awaitable[list[FeedItem]]]

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: one event per history entry; `id` is the "
        "resume point (send it back as Last-Event-ID), `event` the entry type, `data` "
        "a TimelineEntry as JSON.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _last_event_id(
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=20, description="Resume after this event id."),
    ] = None,
) -> str | None:
    return last_event_id


# A dependency (not a plain header parameter) so that it is listed after the audited
# read's X-Purpose header, as it always was in the OpenAPI document.
LastEventId = Annotated[str | None, Depends(_last_event_id)]


async def start_position(session: AsyncSession, last_event_id: str | None) -> int:
    try:
        given = parse_last_event_id(last_event_id)
    except ValueError as exc:
        raise ProblemError(400, "Invalid Last-Event-ID", str(exc)) from exc
    # Without an id the stream starts now: history is what the timeline endpoints are for.
    return given if given is not None else await head_position(session)


def response(request: Request, fetch: Fetch, start: int) -> StreamingResponse:
    """A stream of history entries (staff: the entry itself, as the viewer may see it)."""
    return response_of(request, fetch, start, format_event)


def response_of(
    request: Request,
    fetch: Callable[[AsyncSession, int, int], Awaitable[Sequence[P]]],
    start: int,
    encode: Callable[[P], bytes],
) -> StreamingResponse:
    """A stream of anything positioned, each item as ``encode`` frames it."""
    s = settings(request)
    body = stream(
        request.app.state.sessions,
        fetch,
        start=start,
        pulse=request.app.state.pulse,
        poll_seconds=s.sse_poll_seconds,
        heartbeat_seconds=s.sse_heartbeat_seconds,
        max_seconds=s.sse_max_seconds,
        encode=encode,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
