"""The Kafka side of routing: decode a batch of ``message.received`` records, route them
(``route.py``, on the store of the session's backend), and record each message's events
inside that record's span, with the trace context the record carried; count the metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.context import RouterContext
from services.router.history import History
from services.router.route import route_messages
from services.router.store import open_store
from shared.contracts import MessageReceived
from shared.envelope import CloudEvent
from shared.kafka.consumer import record_span
from shared.kafka.records import Record

ROUTED = Counter(
    "eenloket_router_messages_routed_total",
    "Messages routed, by case rule, owner rule and owning team",
    ["case_rule", "owner_rule", "team"],
)
SUGGESTED_LINKS = Counter("eenloket_router_links_suggested_total", "Suggested identity links made")
DUPLICATES_FLAGGED = Counter(
    "eenloket_router_duplicates_flagged_total", "Messages carrying identifiers of two parties"
)


async def route_records(
    session: AsyncSession, items: list[tuple[CloudEvent, Record]], ctx: RouterContext
) -> None:
    """Route a batch of ``message.received`` events in the session's transaction."""
    if not items:
        return
    now = datetime.now(UTC)  # one clock reading: when the batch's decisions were made
    messages = [MessageReceived.model_validate(event.data).message for event, _ in items]
    store = await open_store(session)
    outcomes = await route_messages(store, messages, ctx.routing, now)
    history = History(source=ctx.source, topic=ctx.timeline_topic, now=now)
    routed: dict[tuple[str, str, str], int] = {}  # the ROUTED counter, counted per batch
    suggested = duplicates = 0
    for (event, record), outcome in zip(items, outcomes, strict=True):
        with record_span(record, event, ctx.group):
            history.take_trace(record)
            for e in outcome.events:
                history.record_json(e.party, e.type, e.data, aggregate=e.aggregate)
        routed[outcome.labels] = routed.get(outcome.labels, 0) + 1
        suggested += outcome.suggested_links
        duplicates += outcome.duplicates_flagged
    for labels, count in routed.items():
        ROUTED.labels(*labels).inc(count)
    SUGGESTED_LINKS.inc(suggested)
    DUPLICATES_FLAGGED.inc(duplicates)
    await store.write_events(history.versions, history.rows)
