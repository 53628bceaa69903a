"""What the publisher consumes: timeline events become ``notifications`` rows (and keep
``case_facts`` current for their kenmerken), in the ``TransactionalConsumer``'s batch
transaction, so the rows and the consumed offsets are committed together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.mapping import EVENT_TYPES, CaseFacts, Mapper, Urls, next_facts
from services.notifications.metrics import QUEUED
from services.notifications.orm import PENDING, case_facts, notifications
from shared.db.dialect import upsert_insert
from shared.envelope import CloudEvent
from shared.kafka.headers import trace_carrier
from shared.kafka.records import Record


async def _facts(session: AsyncSession, case_id: uuid.UUID) -> CaseFacts | None:
    c = case_facts
    row = (
        await session.execute(
            select(c.c.owner_team, c.c.product, c.c.confidential, c.c.status).where(
                c.c.case_id == case_id
            )
        )
    ).first()
    return None if row is None else CaseFacts(*row)


@dataclass(frozen=True)
class Consume:
    urls: Urls

    async def __call__(self, session: AsyncSession, event: CloudEvent, record: Record) -> None:
        model = EVENT_TYPES.get(event.type)
        if model is None:
            return  # an event no subscriber hears of (docs/notificaties.md)
        payload = model.model_validate(event.data)
        case_id = getattr(payload, "case_id", None)
        if case_id is not None:
            await self._update_facts(session, case_id, payload)
        # The facts every notification needs are read before mapping (the mapper is pure).
        wanted = {case_id, getattr(payload, "into_case_id", None)}
        wanted |= {getattr(payload, "from_case_id", None)}
        known = {c: await _facts(session, c) for c in wanted if c is not None}
        mapped = Mapper(self.urls, known.get)(payload)
        now = datetime.now(UTC)
        trace = trace_carrier() or None
        rows: list[dict[str, Any]] = [
            {
                "event_id": event.id,
                "position": i,
                "kanaal": n.kanaal,
                "hoofd_object": n.hoofd_object,
                "body": n.body(),
                "trace": trace,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i, n in enumerate(mapped)
        ]
        if rows:
            insert = upsert_insert(session, notifications).on_conflict_do_nothing(
                index_elements=["event_id", "position"]
            )
            await session.execute(insert, rows)
            for n in mapped:
                QUEUED.labels(n.kanaal).inc()

    async def _update_facts(self, session: AsyncSession, case_id: uuid.UUID, payload: Any) -> None:
        facts = next_facts(payload, await _facts(session, case_id))
        if facts is None:
            return
        values = {
            "owner_team": facts.owner_team,
            "product": facts.product,
            "confidential": facts.confidential,
            "status": str(facts.status),
        }
        insert = upsert_insert(session, case_facts).values(case_id=case_id, **values)
        await session.execute(insert.on_conflict_do_update(index_elements=["case_id"], set_=values))
