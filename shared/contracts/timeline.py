"""What the router publishes on ``omni.timeline.v1`` (key: party id): the history.

Every event's CloudEvent ``subject`` is the party id and carries the party's
``sequence``; caseview projects them into its read models. Team names are the
routing file's team ids (e.g. ``kcc``, ``evenementen``, ``werk-en-inkomen``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts.base import Event
from shared.contracts.inbound import AttachmentRef, Channel, IdentifierKind, Trust
from shared.contracts.text import TEAM_MAX, UserId, storable


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(_Part):
    """Who did it: a staff member (opaque user id) acting for a team, or the system."""

    user: UserId
    # No minimum: a tolerant reader of what was published before the text rules.
    team: Annotated[str, Field(max_length=TEAM_MAX), AfterValidator(storable)] | None = None


class PartyIdentifier(_Part):
    kind: IdentifierKind
    value: str
    trust: Trust
    evidence: str | None = Field(
        default=None,
        max_length=64,
        description="Which evidence gave the identifier its rung: an inbound evidence "
        "('digid', 'eherkenning', 'id-document', 'dmarc', 'dkim', 'network-caller-id'), "
        "'staff-confirmed' (a person confirmed it, e.g. verify_address on a suggested link), "
        "or null: stated by the sender.",
    )


class RoutingExplanation(_Part):
    """Why a message landed where it did: which rule, what matched, which rule-set version."""

    case_rule: str
    case_detail: str
    owner_rule: str
    owner_detail: str
    ruleset_version: str
    matched: list[str] = Field(default_factory=list, description="What matched: words, identifiers")


class Flag(_Part):
    """Something a person should look at; the router did not act on it automatically."""

    kind: str  # e.g. "case-number-of-other-party", "possible-duplicate-party"
    detail: str


# --- parties -------------------------------------------------------------------------


class PartyCreated(Event):
    """``nl.eenloket.party.created``: a new (possibly provisional) resident or business."""

    TYPE = "nl.eenloket.party.created"

    party_id: uuid.UUID
    provisional: bool
    display_name: str | None
    identifiers: list[PartyIdentifier]
    created_at: datetime


class PartyIdentifierAdded(Event):
    """``nl.eenloket.party.identifier-added``: an identifier now belongs to the party."""

    TYPE = "nl.eenloket.party.identifier-added"

    party_id: uuid.UUID
    identifier: PartyIdentifier
    source_message_id: uuid.UUID | None
    at: datetime


class PartyIdentifierRevoked(Event):
    """``nl.eenloket.party.identifier-revoked``: an identifier no longer has the rung it was
    given, e.g. an address verified by a merge decision that was undone. ``identifier``
    names the rung it loses; the party keeps nothing of it."""

    TYPE = "nl.eenloket.party.identifier-revoked"

    party_id: uuid.UUID
    identifier: PartyIdentifier
    still_held_as: Trust | None = Field(
        default=None, description="The rung the party still holds it at (null: not at all)."
    )
    merge_id: uuid.UUID | None
    reason: str
    at: datetime


class LinkSuggested(Event):
    """``nl.eenloket.party.link-suggested``: a sender *claims* an identifier of another party.

    Published on the sender's (provisional) party. The suggested party's history
    gets nothing until a person confirms.
    """

    TYPE = "nl.eenloket.party.link-suggested"

    suggestion_id: uuid.UUID
    party_id: uuid.UUID
    suggested_party_id: uuid.UUID
    identifier: PartyIdentifier
    message_id: uuid.UUID
    at: datetime


class LinkDecided(Event):
    """``nl.eenloket.party.link-decided``: a person confirmed or rejected a suggested link.

    A confirmation is followed by ``party.merged`` (the sender's party into the
    suggested party).
    """

    TYPE = "nl.eenloket.party.link-decided"

    suggestion_id: uuid.UUID
    party_id: uuid.UUID
    suggested_party_id: uuid.UUID
    confirmed: bool
    by: Actor
    reason: str | None
    at: datetime


class PossibleDuplicateFlagged(Event):
    """``nl.eenloket.party.duplicate-flagged``: one message carried identifiers of two parties."""

    TYPE = "nl.eenloket.party.duplicate-flagged"

    party_id: uuid.UUID
    other_party_id: uuid.UUID
    message_id: uuid.UUID
    at: datetime


class PartyMerged(Event):
    """``nl.eenloket.party.merged``: ``merged_party_id`` is the same person as ``party_id``.

    Nothing is deleted: the merged party's history is shown under the surviving
    party until an undo (``party.unmerged``).
    """

    TYPE = "nl.eenloket.party.merged"

    merge_id: uuid.UUID
    party_id: uuid.UUID  # the surviving party
    merged_party_id: uuid.UUID
    by: Actor
    reason: str
    at: datetime


class PartyUnmerged(Event):
    """``nl.eenloket.party.unmerged``: a merge undone; two histories again."""

    TYPE = "nl.eenloket.party.unmerged"

    merge_id: uuid.UUID
    party_id: uuid.UUID
    merged_party_id: uuid.UUID
    by: Actor
    reason: str
    at: datetime


# --- cases -----------------------------------------------------------------------------


class CaseOpened(Event):
    """``nl.eenloket.case.opened``: a new zaak with exactly one owning team."""

    TYPE = "nl.eenloket.case.opened"

    case_id: uuid.UUID
    case_number: str
    party_id: uuid.UUID
    product: str | None
    confidential: bool = False
    owner_team: str
    status: str
    opened_at: datetime
    due_at: datetime | None = None


class CaseClassified(Event):
    """``nl.eenloket.case.classified``: a case's product became known, or the case became
    confidential (a message on it concerns a confidential product, or it was handed over
    to a team whose work is confidential). A case never becomes less confidential."""

    TYPE = "nl.eenloket.case.classified"

    case_id: uuid.UUID
    party_id: uuid.UUID
    product: str | None
    confidential: bool
    message_id: uuid.UUID | None = None  # the message that revealed it; None for a handover
    at: datetime


class MessageRouted(Event):
    """``nl.eenloket.message.routed``: a contact joined a case of a party (klantcontact)."""

    TYPE = "nl.eenloket.message.routed"

    message_id: uuid.UUID
    party_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    channel: Channel
    received_at: datetime
    display_name: str | None
    subject: str | None
    text: str
    attachments: list[AttachmentRef]
    owner_team: str
    explanation: RoutingExplanation
    flags: list[Flag] = Field(default_factory=list)


class CaseHandedOver(Event):
    """``nl.eenloket.case.handed-over``: ownership moved, with who and why."""

    TYPE = "nl.eenloket.case.handed-over"

    case_id: uuid.UUID
    case_number: str
    party_id: uuid.UUID
    from_team: str
    to_team: str
    by: Actor
    reason: str
    handover_count: int = Field(ge=1, description="Handovers of this case so far, incl. this one")
    at: datetime


class CaseMerged(Event):
    """``nl.eenloket.case.merged``: a case opened for a sender who later turned out to be this
    party (a confirmed link) is folded into the party's case: its contacts move there and
    it is closed. Nothing is deleted."""

    TYPE = "nl.eenloket.case.merged"

    case_id: uuid.UUID
    into_case_id: uuid.UUID
    into_case_number: str
    party_id: uuid.UUID  # the party whose history holds the moved contacts
    message_ids: list[uuid.UUID]
    by: Actor
    reason: str
    at: datetime


class CaseUnfolded(Event):
    """``nl.eenloket.case.unfolded``: a merge was undone, so a case it had folded into another
    party's case is this party's own again: its contacts move back and it takes the status
    it had before the fold."""

    TYPE = "nl.eenloket.case.unfolded"

    case_id: uuid.UUID
    from_case_id: uuid.UUID  # the case the contacts leave
    party_id: uuid.UUID  # the party whose case this is (the formerly merged party)
    merge_id: uuid.UUID
    message_ids: list[uuid.UUID]
    status: str
    by: Actor
    reason: str
    at: datetime


class ParticipantAdded(Event):
    """``nl.eenloket.case.participant-added``: a team joins the case (e.g. vooroverleg)."""

    TYPE = "nl.eenloket.case.participant-added"

    case_id: uuid.UUID
    party_id: uuid.UUID
    team: str
    by: Actor
    reason: str | None
    at: datetime


class ParticipantRemoved(Event):
    """``nl.eenloket.case.participant-removed``."""

    TYPE = "nl.eenloket.case.participant-removed"

    case_id: uuid.UUID
    party_id: uuid.UUID
    team: str
    by: Actor
    reason: str | None
    at: datetime


class CaseStatusChanged(Event):
    """``nl.eenloket.case.status-changed``: open → in behandeling → wacht op inwoner …"""

    TYPE = "nl.eenloket.case.status-changed"

    case_id: uuid.UUID
    party_id: uuid.UUID
    from_status: str
    to_status: str
    by: Actor
    at: datetime


class CaseClosed(Event):
    """``nl.eenloket.case.closed``: afgehandeld, with its result."""

    TYPE = "nl.eenloket.case.closed"

    case_id: uuid.UUID
    party_id: uuid.UUID
    result: str
    by: Actor
    at: datetime


class NoteAdded(Event):
    """``nl.eenloket.case.note-added``: an internal note on a case."""

    TYPE = "nl.eenloket.case.note-added"

    note_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    text: str
    by: Actor
    at: datetime


class OutboundContactRegistered(Event):
    """``nl.eenloket.contact.outbound-registered``: the municipality called back, wrote, …"""

    TYPE = "nl.eenloket.contact.outbound-registered"

    contact_id: uuid.UUID
    case_id: uuid.UUID
    party_id: uuid.UUID
    channel: Channel
    summary: str
    by: Actor
    at: datetime


class CommandRejected(Event):
    """``nl.eenloket.command.rejected``: a staff command that could not be carried out.

    ``party_id`` is set when the command concerned a known party or case (then the
    event is on that party's timeline); otherwise the subject is the command id.
    """

    TYPE = "nl.eenloket.command.rejected"

    command_id: uuid.UUID
    command_type: str
    party_id: uuid.UUID | None
    case_id: uuid.UUID | None
    reason: str
    by: Actor | None
    at: datetime
