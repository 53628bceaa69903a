"""Small real HTTP servers for the outbound adapters' tests: the app backend (CloudEvents HTTP
binding, structured mode) and the chat platform (``POST {session, message_id, text}``).

Each records what it received (raw body and headers, whether the ``X-Eenloket-Signature``
verified), can answer errors on demand (``fail_next``), hang until the test ends
(``hang_next``: the adapter's timeout), and the chat platform can end a session (410 Gone).
``serving(app)`` runs any ASGI app with uvicorn on a free port in this event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from services.outbound.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_valid
from shared.envelope import CONTENT_TYPE, CloudEvent
from tests.support import eventually


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, port: int = 0) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1 (``port``, or one the OS picks); yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # a server that could not start: its error, now
        return server.started

    try:
        await eventually(started, timeout=30)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class _Scripted:
    """A signed webhook's receiver: records each request; answers given instead of the
    normal one, in order (errors on demand)."""

    secret: bytes
    received: list[Received] = field(default_factory=list)
    answers: deque[Response | None] = field(default_factory=deque)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: Request) -> tuple[bytes, Response | None]:
        """The body, recorded, and the answer to give now if it is not the normal one (a
        scripted one, or 401 for a bad signature)."""
        body = await request.body()
        ok = signature_valid(
            self.secret,
            body,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
        )
        self.received.append(Received(request.url.path, dict(request.headers), body, ok))
        if (answer := await self.scripted()) is not None:
            return body, answer
        if not ok:
            return body, problem(401, "Niet ondertekend", "handtekening ontbreekt of klopt niet")
        return body, None

    def fail_next(self, status: int, detail: str = "fout op verzoek", *, times: int = 1) -> None:
        for _ in range(times):
            self.answers.append(problem(status, "Fout", detail))

    def hang_next(self) -> None:
        """The next request gets no answer until ``release()`` (or the server stops)."""
        self.answers.append(None)

    def release(self) -> None:
        self.released.set()

    async def scripted(self) -> Response | None:
        """The scripted answer for this request, or ``None`` for the normal one."""
        if not self.answers:
            return None
        answer = self.answers.popleft()
        if answer is None:
            await self.released.wait()
            return problem(503, "Te laat", "vastgehouden verzoek")
        return answer


class AppBackend(_Scripted):
    """The municipality's app backend: receives reply events, one per event id."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        self.events: dict[str, CloudEvent] = {}
        self.app = Starlette(routes=[Route("/events", self._event, methods=["POST"])])

    async def _event(self, request: Request) -> Response:
        body, answer = await self.receive(request)
        if answer is not None:
            return answer
        if request.headers.get("content-type", "").split(";")[0] != CONTENT_TYPE:
            return problem(415, "Verkeerd type", f"verwacht {CONTENT_TYPE}")
        event = CloudEvent.model_validate_json(body)
        # A second delivery of the same event id is acknowledged and not shown twice.
        self.events.setdefault(str(event.id), event)
        return Response(status_code=202)


class ChatPlatform(_Scripted):
    """The chat platform: posts replies into sessions; an ended session answers 410 Gone."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        self.ended: set[str] = set()
        # session → message ids posted into it, in order, each once.
        self.posted: dict[str, list[str]] = {}
        self.app = Starlette(routes=[Route("/replies", self._reply, methods=["POST"])])

    def end_session(self, session: str) -> None:
        self.ended.add(session)

    async def _reply(self, request: Request) -> Response:
        body, answer = await self.receive(request)
        if answer is not None:
            return answer
        message = orjson.loads(body)
        if message["session"] in self.ended:
            return problem(410, "Sessie beëindigd", "het gesprek is gesloten")
        posted = self.posted.setdefault(message["session"], [])
        if message["message_id"] not in posted:
            posted.append(message["message_id"])
        return JSONResponse({"message_id": message["message_id"]}, status_code=201)
