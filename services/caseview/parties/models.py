"""What the API answers about parties: the party view and search hits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.caseview.cases.models import CaseSummary
from services.caseview.paging import Out
from services.caseview.parties.preferences import ContactPreferencesOut
from services.caseview.web import NO_NUL

SearchKind = Literal["bsn", "kvk", "email", "phone", "case_number", "postcode", "name"]


class PartySearch(BaseModel):
    """Find a party by one identifier, a case number, or the start of a name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by: SearchKind = Field(
        description="bsn, kvk, email, phone (any notation; NL by default), case_number "
        "(ZAAK-2026-0000000123), postcode (postcode + house number: '1234 AB 12'; a letter "
        "or addition of the number is ignored), or name (prefix of any word, case- and "
        "accent-insensitive)"
    )
    value: str = Field(min_length=1, max_length=320, pattern=NO_NUL)
    limit: int = Field(default=20, ge=1, le=100)


class IdentifierOut(Out):
    identifier_id: uuid.UUID = Field(
        description="The identifier's stable id: name it as a reply's recipient (never its value)."
    )
    kind: str
    value: str
    trust: str
    evidence: str | None = Field(
        default=None,
        description="Which evidence gave the rung: 'digid', 'eherkenning', 'id-document', "
        "'dmarc', 'dkim', 'network-caller-id', 'crm-import', 'staff-confirmed'; null: stated "
        "by the sender (claimed).",
    )
    party_id: uuid.UUID


class SuggestionOut(Out):
    suggestion_id: uuid.UUID
    direction: Literal["outgoing", "incoming"] = Field(
        description="outgoing: this party's sender claimed another party's identifier; "
        "incoming: another sender claimed one of this party's identifiers."
    )
    party_id: uuid.UUID
    suggested_party_id: uuid.UUID
    identifier_kind: str | None
    identifier_trust: str | None
    message_id: uuid.UUID | None
    suggested_at: datetime | None
    identifier_value: str | None = Field(
        default=None, description="The identifier the sender claimed (as stored)."
    )
    party_name: str | None = None
    suggested_party_name: str | None = None
    held_trust: str | None = Field(
        default=None,
        description="The rung at which the suggested party holds that identifier (its side of "
        "the evidence); null: it no longer holds it.",
    )
    held_evidence: str | None = None
    message_channel: str | None = Field(
        default=None, description="The channel of the message that led to the suggestion."
    )
    message_at: datetime | None = Field(default=None, description="When that message was sent.")
    case_id: uuid.UUID | None = None
    case_number: str | None = None


class SuggestionPage(Out):
    items: list[SuggestionOut]
    next_cursor: str | None


class MergeOut(Out):
    merge_id: uuid.UUID
    party_id: uuid.UUID
    merged_party_id: uuid.UUID
    active: bool
    merged_at: datetime | None
    merged_by: str | None
    merge_reason: str | None
    unmerged_at: datetime | None
    unmerged_by: str | None
    unmerge_reason: str | None


class FoldedCase(Out):
    """A case a merge folded into another one (``case.merged``): not listed with the open
    and closed cases, but an undo of the merge brings it back to its own party."""

    id: uuid.UUID
    number: str
    party_id: uuid.UUID
    merged_into: uuid.UUID = Field(description="The case its contacts moved to.")


class PartyView(Out):
    id: uuid.UUID = Field(description="The party asked for.")
    party_id: uuid.UUID = Field(description="The party whose history this is (after merges).")
    merged_into: uuid.UUID | None
    members: list[uuid.UUID] = Field(description="Parties merged into this one (and itself).")
    provisional: bool
    display_name: str | None
    created_at: datetime
    identifiers: list[IdentifierOut]
    suggested_links: list[SuggestionOut] = Field(description="Awaiting a person's decision.")
    merges: list[MergeOut]
    open_cases: list[CaseSummary]
    closed_cases: list[CaseSummary]
    folded_cases: list[FoldedCase] = Field(
        default_factory=list, description="Cases folded into another by a merge (see FoldedCase)"
    )
    contact_preferences: ContactPreferencesOut | None = Field(
        default=None,
        description="Preferred reply channel and opt-outs (PUT …/contact-preferences); "
        "null: none set",
    )


class PartyHit(Out):
    party_id: uuid.UUID = Field(description="The party to open (after merges).")
    matched_party_id: uuid.UUID
    display_name: str | None
    provisional: bool
    trust: str | None = Field(
        default=None,
        description="For a search by identifier: the rung at which this party holds it "
        "('authenticated' first, then 'verified', then 'claimed': merely stated by a sender).",
    )
    evidence: str | None = None
    identity_trust: str | None = Field(
        default=None,
        description="The strongest rung of any identifier the party holds (telling people apart).",
    )
    bsn_masked: str | None = Field(
        default=None,
        description="The BSN with all but its last three digits hidden ('******789'); the "
        "whole number only through GET /v1/parties/{id}/bsn, which is access-logged.",
    )
    last_contact_at: datetime | None = None
    open_cases: int = 0
    postcode: str | None = Field(default=None, description="'1234AB', from a postal address")
    house_number: str | None = None


class BsnOut(Out):
    party_id: uuid.UUID
    bsn: str
    trust: str
    evidence: str | None


class PartyHits(Out):
    items: list[PartyHit]
    truncated: bool
