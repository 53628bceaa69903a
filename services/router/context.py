"""What the router's use cases are configured with."""

from __future__ import annotations

from dataclasses import dataclass

from services.router.routing.rules import Routing
from shared.settings import PLACEHOLDER_SECRET


@dataclass(frozen=True)
class RouterContext:
    source: str
    timeline_topic: str
    routing: Routing
    group: str = "eenloket-router"
    # Replies (issue #17): where send requests go, and the key of their tokens.
    outbound_topic: str = "omni.outbound.v1"
    reply_token_key: bytes = PLACEHOLDER_SECRET.encode()
