"""What the router's use cases are configured with."""

from __future__ import annotations

from dataclasses import dataclass

from services.router.routing.rules import Routing


@dataclass(frozen=True)
class RouterContext:
    source: str
    timeline_topic: str
    routing: Routing
    group: str = "eenloket-router"
