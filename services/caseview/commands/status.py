"""What became of a staff command, for the person who sent it (``GET /v1/commands/{id}``).

- ``accepted``: caseview published it. The API writes ``staff_commands`` (who sent it,
  for which team) before publishing, and removes the row again if the broker refused.
- ``applied``: an event on the timeline carries the command id as its ``causationid``
  (CloudEvents extension the router sets on every event a command caused).
- ``rejected``: ``command.rejected`` with the command id, and the router's reason; also
  a rejection that names no party (``party_id: null``), which no history shows.

``command_outcomes`` is a projection (rebuilt from the topic like the others);
``staff_commands`` is not. Need-to-know: only the sender and the team they acted for
read a command's status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.messages import rejection_detail
from services.caseview.orm import command_outcomes, staff_commands
from shared.contracts import CommandRejected
from shared.db.dialect import upsert_insert
from shared.envelope import CloudEvent

CAUSATION_ID = "causationid"

Status = Literal["accepted", "applied", "rejected"]


class CommandStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: uuid.UUID
    type: str | None = Field(description="The command's CloudEvent type")
    status: Status = Field(
        description="accepted: published, not yet carried out; applied: the router carried it "
        "out (its events are on the history); rejected: the router refused it (see reason)"
    )
    reason: str | None = Field(
        description="Why the router rejected it, in the router's words (English)"
    )
    detail: str | None = Field(description="The same for people, in Dutch (the console shows it)")
    case_id: uuid.UUID | None
    party_id: uuid.UUID | None
    accepted_at: datetime | None
    decided_at: datetime | None = Field(description="When the router applied or rejected it")


@dataclass(frozen=True)
class Found:
    view: CommandStatus
    user: str | None
    team: str | None

    def readable_by(self, user: str, teams: frozenset[str]) -> bool:
        return (self.user is not None and self.user == user) or (
            self.team is not None and self.team in teams
        )


async def record_accepted(
    session: AsyncSession,
    *,
    command_id: uuid.UUID,
    type_: str,
    user: str,
    team: str | None,
    case_id: uuid.UUID | None,
    party_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """Note a command about to be published; False if it was noted before (a retry with the
    same Idempotency-Key, which is the same command)."""
    result = await session.execute(
        upsert_insert(session, staff_commands)
        .values(
            id=command_id,
            type=type_,
            user=user,
            team=team,
            case_id=case_id,
            party_id=party_id,
            accepted_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))


async def forget(session: AsyncSession, command_id: uuid.UUID) -> None:
    """The broker did not take the command: it was not accepted after all."""
    await session.execute(delete(staff_commands).where(staff_commands.c.id == command_id))


async def project_outcome(session: AsyncSession, event: CloudEvent) -> None:
    """Record what became of a command; any other event passes untouched (one dict lookup).

    Deterministic, as a projection must be: a command's events share one time (the
    router's History), and a command is either applied or rejected, never both."""
    values: dict[str, Any]
    if event.type == CommandRejected.TYPE:
        e = CommandRejected.model_validate(event.data)
        command_id = e.command_id
        values = {
            "status": "rejected",
            "reason": e.reason,
            "command_type": e.command_type,
            "case_id": e.case_id,
            "party_id": e.party_id,
            "by_user": e.by.user if e.by else None,
            "by_team": e.by.team if e.by else None,
            "at": e.at,
        }
    else:
        cause = (event.model_extra or {}).get(CAUSATION_ID)
        if cause is None:
            return
        try:
            command_id = uuid.UUID(str(cause))
        except ValueError:
            return
        values = {"status": "applied", "at": event.time}
    await session.execute(
        upsert_insert(session, command_outcomes)
        .values(command_id=command_id, **values)
        .on_conflict_do_nothing()
    )


async def read(session: AsyncSession, command_id: uuid.UUID) -> Found | None:
    sent = (
        await session.execute(select(staff_commands).where(staff_commands.c.id == command_id))
    ).first()
    o = command_outcomes
    outcome = (await session.execute(select(o).where(o.c.command_id == command_id))).first()
    if sent is None and outcome is None:
        return None
    status: Status = "accepted" if outcome is None else outcome.status
    reason = outcome.reason if outcome is not None else None
    view = CommandStatus(
        command_id=command_id,
        type=sent.type if sent is not None else outcome.command_type if outcome else None,
        status=status,
        reason=reason,
        detail=rejection_detail(reason) if status == "rejected" and reason else None,
        case_id=(sent.case_id if sent is not None else None)
        or (outcome.case_id if outcome is not None else None),
        party_id=(sent.party_id if sent is not None else None)
        or (outcome.party_id if outcome is not None else None),
        accepted_at=sent.accepted_at if sent is not None else None,
        decided_at=outcome.at if outcome is not None else None,
    )
    if sent is not None:
        return Found(view, sent.user, sent.team)
    # Published before caseview noted it (or by another publisher): the rejection's actor.
    assert outcome is not None
    return Found(view, outcome.by_user, outcome.by_team)
