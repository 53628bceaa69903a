"""The drafts' task: publishes every draft that is due (complete and left by the request that
completed it, or unchanged for the settle window ``EENLOKET_KLANTINTERACTIES_SETTLE_SECONDS``)
through maak-klantcontact's path, and keeps the gauges of what waits (docs/klantinteracties.md,
"Writes in three steps"); it also deletes drafts published longer ago than
``EENLOKET_KLANTINTERACTIES_DRAFT_RETENTION_HOURS`` (a week by default).

Kafka away: the round stops and the next one tries again after the pause; a draft is marked
published only after Kafka acknowledged it, so nothing a client was told about is lost. A
draft is published by a caseview that serves its integration (tests run several caseviews on
one database; in production every replica serves all). Two replicas, or a request and this
task, publishing the same draft send the same event id: the router applies it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.caseview.config import CaseviewSettings
from services.caseview.klantinteracties import drafts
from services.caseview.klantinteracties.drafts import D, facade_drafts
from services.caseview.klantinteracties.writes import publish_inbound
from shared.kafka.producer import BrokerUnavailableError
from shared.rounds import work_in_rounds

log = logging.getLogger(__name__)

BATCH = 100
WAITING = Gauge(
    "eenloket_klantinteracties_drafts_waiting",
    "Contacts registered in steps (POST /klantcontacten) not yet published as a message",
)
OLDEST = Gauge(
    "eenloket_klantinteracties_oldest_draft_seconds",
    "Age of the oldest contact registered in steps not yet published (0 when none waits)",
)


def pause_of(settings: CaseviewSettings) -> float:
    """How often to look: a few times per settle window, at most every 5 s."""
    return max(0.05, min(settings.klantinteracties_settle_seconds / 4, 5.0))


async def settle_round(
    sessions: async_sessionmaker[AsyncSession],
    settings: CaseviewSettings,
    producer: Any,
    integrations: list[str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Publish up to ``BATCH`` due drafts of these integrations; how many were due."""
    now = clock()
    cutoff = now - timedelta(seconds=settings.klantinteracties_settle_seconds)
    # A draft just completed is the completing request's to publish (it has this long to
    # answer 201 or 503); the task takes it after that, so the two rarely both send it.
    handed_over = now - timedelta(seconds=settings.command_publish_timeout)
    async with sessions() as session:
        # Published drafts are not kept longer than needed (they hold the contact's text).
        kept_since = now - timedelta(hours=settings.klantinteracties_draft_retention_hours)
        if await drafts.forget_published(session, integrations, kept_since):
            await session.commit()
        count, oldest = await drafts.backlog(session)
        due = list(
            await session.execute(
                select(facade_drafts)
                .where(
                    D.published_at.is_(None),
                    D.integration.in_(integrations),
                    or_(
                        D.updated_at <= cutoff,
                        D.betrokkene_at.is_not(None)
                        & D.case_id.is_not(None)
                        & (D.updated_at <= handed_over),
                    ),
                )
                .order_by(D.updated_at)
                .limit(BATCH)
            )
        )
    WAITING.set(count)
    OLDEST.set((now - oldest).total_seconds() if oldest is not None else 0)
    for draft in due:
        try:
            await publish_inbound(settings, producer, drafts.message_of(draft))
        except BrokerUnavailableError:
            log.warning("publishing a klantcontact draft failed; retrying")
            return 0  # wait the pause, then try again
        async with sessions() as session:
            await drafts.published(session, draft.id, clock())
            await session.commit()
    return len(due)


async def run(
    sessions: async_sessionmaker[AsyncSession],
    settings: CaseviewSettings,
    producer: Any,
    integrations: list[str],
) -> None:
    await work_in_rounds(
        lambda: settle_round(sessions, settings, producer, integrations),
        batch=BATCH,
        pause=pause_of(settings),
        wakeup=asyncio.Event(),
        what="klantcontact draft round",
    )
