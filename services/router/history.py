"""Collecting the events a handler produces, numbered per party, for the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.model import Party
from services.router.orm import outbox
from services.router.repository import Repository
from shared.contracts import Event
from shared.contracts.base import to_envelope_json
from shared.outbox import add_to_outbox, outbox_row


@dataclass
class History:
    """Events in the order they happened. Each party's events carry that party's next
    ``sequence`` numbers; the party row was locked by the repository, so one
    transaction numbers one party's events at a time."""

    source: str
    topic: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)

    def record(self, party: Party, payload: Event, *, aggregate: str = "party") -> None:
        version = self.versions.get(party.id, party.version) + 1
        self.versions[party.id] = version
        event = to_envelope_json(payload, source=self.source, subject=party.id, sequence=version)
        self.rows.append(outbox_row(topic=self.topic, aggregatetype=aggregate, event=event))

    def record_unowned(self, subject: uuid.UUID, payload: Event, *, aggregate: str) -> None:
        """An event that concerns no known party (e.g. a command on an unknown case)."""
        event = to_envelope_json(payload, source=self.source, subject=subject)
        self.rows.append(outbox_row(topic=self.topic, aggregatetype=aggregate, event=event))

    async def save(self, session: AsyncSession) -> None:
        await Repository(session).set_versions(self.versions)
        await add_to_outbox(session, outbox, self.rows)
