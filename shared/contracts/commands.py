"""Staff intentions on ``omni.commands.v1`` (key: case id, or party id for party commands).

Caseview publishes them (the command id is the CloudEvent id); the router, the
single writer of parties and cases, carries each out as timeline events or
answers ``command.rejected``. Types are imperative (design §3).
"""

from __future__ import annotations

import uuid

from pydantic import Field

from shared.contracts.base import Event
from shared.contracts.inbound import Channel
from shared.contracts.timeline import Actor

CASE_STATUSES = ("open", "in behandeling", "wacht op inwoner", "afgehandeld")


class HandOverCase(Event):
    TYPE = "nl.eenloket.case.hand-over"

    case_id: uuid.UUID
    from_team: str = Field(min_length=1, max_length=64)
    to_team: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)
    by: Actor


class AddParticipant(Event):
    TYPE = "nl.eenloket.case.add-participant"

    case_id: uuid.UUID
    team: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    by: Actor


class RemoveParticipant(Event):
    TYPE = "nl.eenloket.case.remove-participant"

    case_id: uuid.UUID
    team: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    by: Actor


class ChangeStatus(Event):
    TYPE = "nl.eenloket.case.change-status"

    case_id: uuid.UUID
    status: str = Field(description="open | in behandeling | wacht op inwoner")
    by: Actor


class CloseCase(Event):
    TYPE = "nl.eenloket.case.close"

    case_id: uuid.UUID
    result: str = Field(min_length=1, max_length=2000)
    by: Actor


class AddNote(Event):
    TYPE = "nl.eenloket.case.add-note"

    case_id: uuid.UUID
    text: str = Field(min_length=1, max_length=20_000)
    by: Actor


class RegisterOutboundContact(Event):
    TYPE = "nl.eenloket.contact.register-outbound"

    case_id: uuid.UUID
    channel: Channel
    summary: str = Field(min_length=1, max_length=20_000)
    by: Actor


class DecideLink(Event):
    """Confirm (then merge) or reject a suggested identity link."""

    TYPE = "nl.eenloket.party.decide-link"

    suggestion_id: uuid.UUID
    confirm: bool
    verify_address: bool = Field(
        default=False,
        description="With confirm: the municipality confirms the claimed e-mail address, phone "
        "number or chat handle belongs to this party (verified), so later messages from it "
        "link automatically. Leave false for a shared address (a family mailbox).",
    )
    reason: str | None = Field(default=None, max_length=2000)
    by: Actor


class MergeParties(Event):
    TYPE = "nl.eenloket.party.merge"

    party_id: uuid.UUID  # survives
    merged_party_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=2000)
    by: Actor


class UnmergeParties(Event):
    TYPE = "nl.eenloket.party.unmerge"

    merge_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=2000)
    by: Actor


COMMAND_TYPES: tuple[type[Event], ...] = (
    HandOverCase,
    AddParticipant,
    RemoveParticipant,
    ChangeStatus,
    CloseCase,
    AddNote,
    RegisterOutboundContact,
    DecideLink,
    MergeParties,
    UnmergeParties,
)
