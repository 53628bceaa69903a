"""ASGI middleware of ingest: a body limit per route, and rejections counted per channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.ingest.open_formulieren import ROUTE_NAME as OPEN_FORMULIEREN
from services.ingest.rejections import reason_of
from services.ingest.service import REJECTED
from shared.contracts import Channel
from shared.http import BodySizeLimit

_PREFIX = "/v1/channels/"
_CHANNELS = frozenset(c.value for c in Channel) | {OPEN_FORMULIEREN}


def _channel(scope: Mapping[str, Any]) -> str | None:
    path = str(scope.get("path", ""))
    if not path.startswith(_PREFIX):
        return None
    name = path[len(_PREFIX) :].strip("/")
    return name if name in _CHANNELS else None


class BodyLimitPerChannel:
    """``shared.http.BodySizeLimit`` with a limit per channel route.

    JSON-only channels keep the small default; channels that carry attachments
    (base64 in JSON, or a raw e-mail) get theirs.
    """

    def __init__(self, app: Any, default: int, per_channel: Mapping[str, int]) -> None:
        self._default = BodySizeLimit(app, limit=default)
        self._by_channel = {name: BodySizeLimit(app, limit=n) for name, n in per_channel.items()}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        channel = _channel(scope) if scope["type"] == "http" else None
        limiter = self._by_channel.get(channel or "", self._default)
        await limiter(scope, receive, send)


class RejectionMetrics:
    """Counts every refused channel request by status, whichever layer refused it
    (body limit, validation, authentication, the route itself)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        channel = _channel(scope) if scope["type"] == "http" else None
        if channel is None:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                status = int(message["status"])
                REJECTED.labels(channel, reason_of(scope, status)).inc()
            await send(message)

        await self.app(scope, receive, counting_send)
