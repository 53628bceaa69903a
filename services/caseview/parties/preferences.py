"""A party's contact preferences (issue #17): the channel a reply takes when staff name no
recipient, and the channels the resident opted out of. Set by the staff command
``PUT /v1/parties/{id}/contact-preferences`` (commands/table.py), carried out by the router
as ``party.contact-preferences-changed`` and projected here into ``contact_preferences``
(registered in projector.PROJECTIONS), one row for the party that survives merges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.orm import contact_preferences
from services.caseview.paging import Out
from services.caseview.sinks import ProjectionSink
from shared.contracts.commands import preferred_not_opted_out
from shared.contracts.outbound import ContactPreferencesChanged, ReplyChannel
from shared.contracts.text import Reason
from shared.db.dialect import upsert_insert
from shared.envelope import CloudEvent


class ContactPreferencesRequest(BaseModel):
    """The whole set: a channel not in ``opted_out`` is allowed (again)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preferred_channel: ReplyChannel | None = Field(
        default=None, description="The reply channel when staff name no recipient"
    )
    opted_out: list[ReplyChannel] = Field(
        default_factory=list,
        max_length=len(ReplyChannel),
        description="Channels the resident does not want replies on",
    )
    reason: Reason

    @model_validator(mode="after")
    def _consistent(self) -> ContactPreferencesRequest:
        preferred_not_opted_out(self.preferred_channel, self.opted_out)
        return self


class ContactPreferencesOut(Out):
    preferred_channel: ReplyChannel | None
    opted_out: list[ReplyChannel]
    reason: str
    changed_by: str
    changed_team: str | None
    changed_at: datetime


@dataclass(frozen=True)
class Preferences:
    preferred_channel: ReplyChannel | None = None
    opted_out: frozenset[ReplyChannel] = frozenset()


async def preferences_changed(
    sink: ProjectionSink, event: CloudEvent, e: ContactPreferencesChanged
) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    row = {
        "preferred_channel": None if e.preferred_channel is None else e.preferred_channel.value,
        "opted_out": sorted(c.value for c in e.opted_out),
        "reason": e.reason,
        "changed_by": e.by.user,
        "changed_team": e.by.team,
        "changed_at": e.at,
    }
    stmt = upsert_insert(sink.session, contact_preferences).values(party_id=e.party_id, **row)
    await sink.session.execute(stmt.on_conflict_do_update(index_elements=["party_id"], set_=row))


async def read(session: AsyncSession, root: uuid.UUID) -> ContactPreferencesOut | None:
    """The preferences of the party ``root`` (after merges), None when none were set."""
    t = contact_preferences
    row = (await session.execute(select(t).where(t.c.party_id == root))).first()
    if row is None:
        return None
    return ContactPreferencesOut(
        preferred_channel=row.preferred_channel,
        opted_out=row.opted_out,
        reason=row.reason,
        changed_by=row.changed_by,
        changed_team=row.changed_team,
        changed_at=row.changed_at,
    )


async def of(session: AsyncSession, root: uuid.UUID) -> Preferences:
    found = await read(session, root)
    if found is None:
        return Preferences()
    return Preferences(found.preferred_channel, frozenset(found.opted_out))
