"""The fast lane: a well-formed channel request accepted without FastAPI's machinery.

Profiling ingest under load put about half of its CPU per accepted web form in the
framework: routing through the included router, solving five dependencies, the
exception and exit-stack middleware, the response model. The work itself (validate,
build the message, publish, wait for Kafka) is the other half.

This ASGI middleware sits innermost in ingest's middleware stack, so the body limit,
the rejection counters and the HTTP latency histogram apply as before. For a POST to a
channel route it does what the FastAPI route does, with the same functions
(``api.identify``, the channel's ``read`` and ``submission`` from ``CHANNEL_BODIES``,
``api.accept``) — but only while the request is well-formed: the channel's media type,
a key valid for the channel, a valid ``Idempotency-Key`` header if any, and a body the
channel can read. Anything else is handed to the FastAPI app unchanged (its body
replayed), which answers as it always has: one place decides what a 401, 415 or 422
looks like. The OpenAPI document still describes the routes; both ways give the same
answers (tests/integration/test_ingest_fastlane.py; the schemathesis run goes through
both). ``EENLOKET_FAST_LANE=false`` switches it off.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError

from services.ingest.api import (
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    accept,
    identify,
    router,
)
from services.ingest.submissions import CHANNEL_BODIES, ChannelBody
from shared.contracts import Channel
from shared.http import ProblemError, replay_body, send_problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAST_LANE = Counter(
    "eenloket_ingest_fast_lane_total",
    "Channel requests answered by the fast lane, or handed over to the FastAPI route",
    ["channel", "outcome"],
)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class _Lane:
    path: str  # the route template, as HttpMetrics labels it (scope["route"].path)
    channel: Channel
    body: ChannelBody
    served: Any  # the counter children, looked up once
    handed_over: Any


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        lanes = (
            _Lane(
                f"{router.prefix}/{channel.value}",
                channel,
                body,
                FAST_LANE.labels(channel.value, "served"),
                FAST_LANE.labels(channel.value, "handed-over"),
            )
            for channel, body in CHANNEL_BODIES.items()
        )
        self._lanes = {lane.path: lane for lane in lanes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self._lanes.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type = key = idempotency_key = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"x-api-key" and key is None:
                key = value.decode("latin-1")
            elif name == b"idempotency-key" and idempotency_key is None:
                idempotency_key = value.decode("latin-1")
        if (content_type or "").split(";")[0].strip().lower() != lane.body.media_type or (
            idempotency_key is not None
            and (
                len(idempotency_key) > IDEMPOTENCY_KEY_MAX
                or not _IDEMPOTENCY_KEY.match(idempotency_key)
            )
        ):
            lane.handed_over.inc()
            await self.app(scope, receive, send)  # FastAPI's 415 / 422
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        state = scope["app"].state
        try:
            caller = identify(state.authenticator, key, lane.channel)
            parsed = lane.body.read(body)
        except (ProblemError, ValidationError):
            # FastAPI's 401/403/422 (an unreadable e-mail's 400/422 as well: its route
            # reads it with the same function, after the same checks)
            lane.handed_over.inc()
            await self.app(scope, replay_body(body, receive), send)
            return
        lane.served.inc()
        scope["route"] = lane  # the HTTP latency histogram's route label
        try:
            submission = lane.body.submission(parsed, caller, idempotency_key or None)
            accepted = await accept(state.intake, submission, state.settings.retry_after_seconds)
        except ProblemError as exc:
            await send_problem(scope, send, exc)
            return
        payload = accepted.model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [(b"content-length", str(len(payload)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (the body limit outside already bounded it); True if the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False
