"""Contacts registered in steps (``POST /klantcontacten``, ``/betrokkenen``,
``/onderwerpobjecten``: steps.py) wait here as drafts until they become one ingest message
(docs/klantinteracties.md, "Writes in three steps").

A draft's id is the future message id (and its klantcontact's uuid). It becomes a message as
soon as it has its betrokkene and its onderwerpobject (``complete``), or once it has not
changed for the settle window (settle.py): then it goes in with what it has. Publishing is
idempotent (the message id is the draft id, the router applies an event id once), so a draft
published twice (the request and the task racing, two replicas) is one message.

The trust rule is applied when the betrokkene is attached (``writes.sender``): the draft keeps
the sender identifiers with their rungs, so publishing needs nothing but the row. A published
draft is deleted after ``EENLOKET_KLANTINTERACTIES_DRAFT_RETENTION_HOURS`` (settle.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    String,
    Table,
    Text,
    Uuid,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.klantinteracties.mapping import ContactRow
from services.caseview.orm import metadata
from shared.contracts import Channel, InboundMessage, SenderIdentifier
from shared.db.types import JsonDoc, UtcDateTime

# Not a projection (not in orm.PROJECTION_TABLES): never rebuilt from the topic.
facade_drafts = Table(
    "facade_drafts",
    metadata,
    Column("id", Uuid, primary_key=True),  # the future message id
    Column("integration", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(8), nullable=False),
    Column("confidential", Boolean, nullable=False),
    Column("contact_made", Boolean),  # indicatieContactGelukt, echoed
    Column("received_at", UtcDateTime, nullable=False),  # plaatsgevondenOp
    # The betrokkene: when it was attached (a betrokkene may name no partij), the partij,
    # the sender identifiers with their rungs (the trust rule applied), the contact's name.
    Column("betrokkene_at", UtcDateTime),
    Column("party_id", Uuid),
    Column("sender", JsonDoc),
    Column("display_name", String(200)),
    # The onderwerpobject: the zaak.
    Column("case_id", Uuid),
    Column("case_number", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    Index("ix_cv_facade_drafts_waiting", "published_at", "updated_at"),
)

D = facade_drafts.c


def complete(draft: Any) -> bool:
    """Both steps after the klantcontact are done: publish at once (settle.py asks the same
    in SQL, beside "unchanged for the settle window")."""
    return draft.betrokkene_at is not None and draft.case_id is not None


def message_of(draft: Any) -> InboundMessage:
    """The ingest message a draft becomes. Without a betrokkene it is an anonymous contact of
    its kanaal (no sender), which the router gives the KCC like any such message."""
    return InboundMessage(
        message_id=draft.id,
        channel=Channel(draft.channel),
        received_at=draft.received_at,
        sender=[SenderIdentifier.model_validate(s) for s in draft.sender or []],
        display_name=draft.display_name,
        subject=draft.subject or None,
        text=draft.text,
        language=draft.language,
        case_number_hint=draft.case_number,
        channel_message_id=f"klantinteracties:{draft.integration}:{draft.id}",
    )


def contact_row(draft: Any) -> ContactRow:
    """The draft as the reads' row, so the 201 bodies have the shape the reads will show."""
    return ContactRow(
        message_id=draft.id,
        party_id=draft.party_id or draft.id,
        party_name=draft.display_name,
        channel=draft.channel,
        occurred_at=draft.received_at,
        body={"subject": draft.subject, "text": draft.text},
        case_id=draft.case_id,
        case_number=draft.case_number,
        confidential=draft.confidential,
        visible=True,
    )


async def find(session: AsyncSession, draft_id: uuid.UUID) -> Any:
    return (await session.execute(select(facade_drafts).where(D.id == draft_id))).first()


async def attach(session: AsyncSession, draft_id: uuid.UUID, now: datetime, **values: Any) -> bool:
    """Set the columns of one step on an unpublished draft whose step is still open; False
    when another request got there first (the caller re-reads and answers 409)."""
    open_step = D.betrokkene_at.is_(None) if "betrokkene_at" in values else D.case_id.is_(None)
    done = await session.execute(
        update(facade_drafts)
        .where(D.id == draft_id, D.published_at.is_(None), open_step)
        .values(**values, updated_at=now)
    )
    return bool(getattr(done, "rowcount", 0))


async def published(session: AsyncSession, draft_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(facade_drafts)
        .where(D.id == draft_id, D.published_at.is_(None))
        .values(published_at=now)
    )


async def forget_published(session: AsyncSession, integrations: list[str], before: datetime) -> int:
    """Delete these integrations' drafts published before ``before``; how many."""
    done = await session.execute(
        delete(facade_drafts).where(D.published_at < before, D.integration.in_(integrations))
    )
    return int(getattr(done, "rowcount", 0))


async def backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many drafts wait, and when the oldest of them was registered."""
    row = (
        await session.execute(
            select(func.count(), func.min(D.created_at)).where(D.published_at.is_(None))
        )
    ).one()
    return int(row[0]), row[1]
