"""Collecting the events a handler produces, numbered per party, for the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.router.domain.model import Party
from services.router.store.protocol import RouterStore
from shared.contracts import Event
from shared.envelope import envelope_json, utc_iso
from shared.ids import new_id
from shared.kafka.consumer import carries_trace
from shared.kafka.headers import trace_carrier
from shared.kafka.records import Record
from shared.outbox import CURRENT_TRACE
from shared.telemetry import exporting

# CloudEvents extension attribute (the "correlation" extension's name): the command that
# caused an event.
CAUSATION_ID = "causationid"


@dataclass
class History:
    """Events in the order they happened. Each party's events carry that party's next
    ``sequence`` numbers; the party row was locked by the store, so one
    transaction numbers one party's events at a time."""

    source: str
    topic: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    # The trace context the rows carry: taken per row unless ``take_trace`` fixed it.
    trace: Any = CURRENT_TRACE
    # The events' time: when the batch's decisions were made (one clock reading for all).
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The staff command these events carry out: the CloudEvents ``causationid`` extension
    # (the command id), by which caseview marks the command applied.
    cause: uuid.UUID | None = None

    def __post_init__(self) -> None:
        self._time = utc_iso(self.now)  # formatted once for all the batch's events

    def take_trace(self, record: Record | None = None) -> None:
        """Rows recorded from now on carry the trace context current now (taken once for the
        several events of one message instead of once per event). Processing ``record``
        while no traces are exported and its headers carry no context, there is none."""
        if record is not None and not exporting() and not carries_trace(record):
            self.trace = None
            return
        self.trace = trace_carrier() or None

    def record(self, party: Party, payload: Event, *, aggregate: str = "party") -> None:
        self.record_json(party, payload.TYPE, payload.model_dump(mode="json"), aggregate=aggregate)

    def record_json(
        self, party: Party, type_: str, data: dict[str, Any], *, aggregate: str = "party"
    ) -> dict[str, Any]:
        """As ``record``, for an event whose ``data`` is already the JSON form of its contract
        model (held equal to ``model_dump(mode="json")`` by unit tests). Returns ``data``."""
        version = self.versions.get(party.id, party.version) + 1
        self.versions[party.id] = version
        self._append(type_, str(party.id), data, aggregate, version)
        return data

    def record_unowned(
        self, subject: uuid.UUID, payload: Event, *, aggregate: str, topic: str | None = None
    ) -> None:
        """An event that concerns no known party (e.g. a command on an unknown case), or that
        goes to another ``topic`` keyed by ``subject`` (a reply's send request)."""
        data = payload.model_dump(mode="json")
        self._append(payload.TYPE, str(subject), data, aggregate, None, topic)

    def _append(
        self,
        type_: str,
        subject: str,
        data: dict[str, Any],
        aggregate: str,
        sequence: int | None,
        topic: str | None = None,
    ) -> None:
        """The outbox row of an event: ``outbox_row(event=envelope_json(...))`` made in one go
        (the router writes two or three for every message; unit tests hold them equal)."""
        event_id = new_id()
        envelope = envelope_json(
            source=self.source,
            type=type_,
            subject=subject,
            data=data,
            event_id=event_id,
            time=self._time,
            sequence=sequence,
        )
        if self.cause is not None:
            envelope[CAUSATION_ID] = str(self.cause)
        trace = (trace_carrier() or None) if self.trace is CURRENT_TRACE else self.trace
        self.rows.append(
            {
                "id": event_id,
                "aggregatetype": aggregate,
                "aggregateid": subject,
                "type": type_,
                "payload": envelope,
                "topic": topic or self.topic,
                "trace": trace,
                "created_at": self.now,
            }
        )

    async def save(self, store: RouterStore) -> None:
        await store.write_events(self.versions, self.rows)
