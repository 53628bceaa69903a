"""Staff intentions on ``omni.commands.v1`` (key: case id, or party id for party commands).

Caseview publishes them (the command id is the CloudEvent id); the router, the
single writer of parties and cases, carries each out as timeline events or
answers ``command.rejected``. Types are imperative (design §3).

Every free-text field refuses what PostgreSQL cannot store and what the router's
columns cannot hold (``shared/contracts/text.py``): caseview validates a command
before publishing it (422), and the router validates it again, so such input is a
``command.rejected``, never a database error and a dead letter.
"""

from __future__ import annotations

import uuid

from pydantic import Field, model_validator

from shared.contracts.base import Event
from shared.contracts.inbound import Channel
from shared.contracts.outbound import ReplyChannel
from shared.contracts.outbound import SendReply as SendReply
from shared.contracts.text import LongText, OptionalReason, Reason, TeamId
from shared.contracts.timeline import Actor

# Re-exported: callers name the status a change may set ``commands.OpenStatus``.
from shared.contracts.vocabulary import OpenStatus as OpenStatus


class HandOverCase(Event):
    TYPE = "nl.eenloket.case.hand-over"

    case_id: uuid.UUID
    from_team: TeamId
    to_team: TeamId
    reason: Reason
    by: Actor


class AddParticipant(Event):
    TYPE = "nl.eenloket.case.add-participant"

    case_id: uuid.UUID
    team: TeamId
    reason: OptionalReason | None = None
    by: Actor


class RemoveParticipant(Event):
    TYPE = "nl.eenloket.case.remove-participant"

    case_id: uuid.UUID
    team: TeamId
    reason: OptionalReason | None = None
    by: Actor


class ChangeStatus(Event):
    TYPE = "nl.eenloket.case.change-status"

    case_id: uuid.UUID
    status: OpenStatus = Field(description="open | in behandeling | wacht op inwoner")
    by: Actor


class CloseCase(Event):
    TYPE = "nl.eenloket.case.close"

    case_id: uuid.UUID
    result: Reason
    by: Actor


class AddNote(Event):
    TYPE = "nl.eenloket.case.add-note"

    case_id: uuid.UUID
    text: LongText
    by: Actor


class RegisterOutboundContact(Event):
    TYPE = "nl.eenloket.contact.register-outbound"

    case_id: uuid.UUID
    channel: Channel
    summary: LongText
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
    reason: OptionalReason | None = None
    by: Actor


class MergeParties(Event):
    TYPE = "nl.eenloket.party.merge"

    party_id: uuid.UUID  # survives
    merged_party_id: uuid.UUID
    reason: Reason
    by: Actor


class UnmergeParties(Event):
    TYPE = "nl.eenloket.party.unmerge"

    merge_id: uuid.UUID
    reason: Reason
    by: Actor


class SetContactPreferences(Event):
    """A party's preferred reply channel and the channels it opted out of (key: party id).
    The whole set each time: what is not in ``opted_out`` is allowed again."""

    TYPE = "nl.eenloket.party.set-contact-preferences"

    party_id: uuid.UUID
    preferred_channel: ReplyChannel | None = None
    opted_out: list[ReplyChannel] = Field(default_factory=list, max_length=len(ReplyChannel))
    reason: Reason
    by: Actor

    @model_validator(mode="after")
    def _preferred_not_opted_out(self) -> SetContactPreferences:
        preferred_not_opted_out(self.preferred_channel, self.opted_out)
        return self


def preferred_not_opted_out(preferred: ReplyChannel | None, opted_out: list[ReplyChannel]) -> None:
    """A preference for a channel the resident opted out of contradicts itself."""
    if preferred is not None and preferred in opted_out:
        raise ValueError("the preferred channel cannot also be opted out")


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
    SendReply,  # shared/contracts/outbound.py: replies have a module of their own
    SetContactPreferences,
)
