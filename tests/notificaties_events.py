"""Timeline events as the router publishes them, full of personal data (a BSN, an e-mail
address, a name, a postal address, free text), for the notifications publisher's tests: what
it sends must carry none of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.contracts import timeline as t
from shared.contracts.base import Event
from shared.contracts.inbound import AttachmentRef, Channel, IdentifierKind, Trust
from shared.contracts.outbound import ReplyChannel, ReplyRequested, ReplyStatus, ReplyStatusChanged

BSN = "111222333"
EMAIL = "jan.jansen@example.org"
NAME = "Jan Jansen"
ADDRESS = "Dorpsstraat 12, 1234 AB Ons Dorp"
TEXT = "Mijn buurman Piet Pietersen laat zijn hond blaffen"
SUBJECT = "Klacht over geluidsoverlast Dorpsstraat"
PERSONAL = (BSN, EMAIL, NAME, "Jansen", ADDRESS, "Dorpsstraat", TEXT, SUBJECT, "Pietersen")
KCC = t.Actor(user="medewerker-7", team="kcc")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Story:
    """One resident's history: ``party`` with a case ``case``; ``other`` another party
    (a provisional one, later merged) with its own case ``other_case``."""

    party: uuid.UUID = field(default_factory=uuid.uuid4)
    case: uuid.UUID = field(default_factory=uuid.uuid4)
    other: uuid.UUID = field(default_factory=uuid.uuid4)
    other_case: uuid.UUID = field(default_factory=uuid.uuid4)
    message: uuid.UUID = field(default_factory=uuid.uuid4)
    other_message: uuid.UUID = field(default_factory=uuid.uuid4)

    def party_created(self, party: uuid.UUID | None = None) -> t.PartyCreated:
        return t.PartyCreated(
            party_id=party or self.party,
            provisional=False,
            display_name=NAME,
            identifiers=[
                t.PartyIdentifier(kind=IdentifierKind.BSN, value=BSN, trust=Trust.AUTHENTICATED),
                t.PartyIdentifier(kind=IdentifierKind.EMAIL, value=EMAIL, trust=Trust.CLAIMED),
                t.PartyIdentifier(
                    kind=IdentifierKind.POSTAL_ADDRESS, value=ADDRESS, trust=Trust.CLAIMED
                ),
            ],
            created_at=_now(),
        )

    def case_opened(
        self, case: uuid.UUID | None = None, party: uuid.UUID | None = None
    ) -> t.CaseOpened:
        return t.CaseOpened(
            case_id=case or self.case,
            case_number="2026-000042",
            party_id=party or self.party,
            product="overlast",
            confidential=False,
            owner_team="kcc",
            status="open",
            opened_at=_now(),
        )

    def message_routed(
        self,
        message: uuid.UUID | None = None,
        case: uuid.UUID | None = None,
        party: uuid.UUID | None = None,
    ) -> t.MessageRouted:
        return t.MessageRouted(
            message_id=message or self.message,
            party_id=party or self.party,
            case_id=case or self.case,
            case_number="2026-000042",
            channel=Channel.EMAIL,
            received_at=_now(),
            display_name=NAME,
            subject=SUBJECT,
            text=TEXT,
            attachments=[
                AttachmentRef(
                    sha256="a" * 64, filename=f"{NAME}.pdf", media_type="application/pdf", size=9
                )
            ],
            owner_team="kcc",
            explanation=t.RoutingExplanation(
                case_rule="new-case",
                case_detail=f"geen open zaak voor {EMAIL}",
                owner_rule="product",
                owner_detail="overlast",
                ruleset_version="1",
                matched=[BSN, "Dorpsstraat"],
            ),
        )

    def handed_over(self) -> t.CaseHandedOver:
        return t.CaseHandedOver(
            case_id=self.case,
            case_number="2026-000042",
            party_id=self.party,
            from_team="kcc",
            to_team="handhaving",
            by=KCC,
            reason=f"{NAME} woont aan de {ADDRESS}",
            handover_count=1,
            at=_now(),
        )

    def party_merged(self) -> t.PartyMerged:
        return t.PartyMerged(
            merge_id=uuid.uuid4(),
            party_id=self.party,
            merged_party_id=self.other,
            by=KCC,
            reason=f"zelfde e-mailadres {EMAIL}",
            at=_now(),
        )

    def case_merged(self) -> t.CaseMerged:
        return t.CaseMerged(
            case_id=self.other_case,
            into_case_id=self.case,
            into_case_number="2026-000042",
            party_id=self.party,
            message_ids=[self.other_message],
            by=KCC,
            reason=f"{NAME} schreef twee keer",
            at=_now(),
        )

    def routed(self) -> list[tuple[uuid.UUID, Event]]:
        """(key, event): a new party, its case, its message."""
        return [
            (self.party, self.party_created()),
            (self.party, self.case_opened()),
            (self.party, self.message_routed()),
        ]

    def merge(self) -> list[tuple[uuid.UUID, Event]]:
        """(key, event): another party writes, turns out to be ``party``: both merged."""
        return [
            (self.other, self.party_created(self.other)),
            (self.other, self.case_opened(self.other_case, self.other)),
            (self.other, self.message_routed(self.other_message, self.other_case, self.other)),
            (self.party, self.party_merged()),
            (self.party, self.case_merged()),
        ]

    def reply(self, reply: uuid.UUID) -> list[Event]:
        """A reply to the resident on ``case`` (an outgoing klantcontact) and its delivery."""
        at, channel = _now(), ReplyChannel.EMAIL
        return [
            ReplyRequested(
                reply_id=reply,
                case_id=self.case,
                party_id=self.party,
                identifier_id=uuid.uuid4(),
                channel=channel,
                recipient_trust="verified",
                subject=SUBJECT,
                text=f"Beste {NAME}, over {ADDRESS}: {TEXT}",
                template=None,
                attachments=[],
                notice_only=False,
                by=KCC,
                at=at,
            ),
            ReplyStatusChanged(
                reply_id=reply,
                case_id=self.case,
                party_id=self.party,
                channel=channel,
                status=ReplyStatus.DELIVERED,
                reason=None,
                reference=EMAIL,
                at=at,
            ),
        ]

    def everything_else(self) -> list[Event]:
        """Every other timeline event type, each with personal data where it has free text."""
        at = _now()
        ident = t.PartyIdentifier(kind=IdentifierKind.BSN, value=BSN, trust=Trust.AUTHENTICATED)
        p, c = self.party, self.case
        return [
            t.PartyIdentifierAdded(party_id=p, identifier=ident, source_message_id=None, at=at),
            t.PartyIdentifierRevoked(
                party_id=p, identifier=ident, merge_id=None, reason=f"{NAME} bezwaar", at=at
            ),
            t.LinkSuggested(
                suggestion_id=uuid.uuid4(),
                party_id=p,
                suggested_party_id=self.other,
                identifier=ident,
                message_id=self.message,
                at=at,
            ),
            t.LinkDecided(
                suggestion_id=uuid.uuid4(),
                party_id=p,
                suggested_party_id=self.other,
                confirmed=True,
                by=KCC,
                reason=NAME,
                at=at,
            ),
            t.PossibleDuplicateFlagged(
                party_id=p, other_party_id=self.other, message_id=self.message, at=at
            ),
            t.PartyUnmerged(
                merge_id=uuid.uuid4(),
                party_id=p,
                merged_party_id=self.other,
                by=KCC,
                reason=NAME,
                at=at,
            ),
            t.CaseClassified(case_id=c, party_id=p, product="schuldhulp", confidential=True, at=at),
            t.CaseUnfolded(
                case_id=self.other_case,
                from_case_id=c,
                party_id=self.other,
                merge_id=uuid.uuid4(),
                message_ids=[self.other_message],
                status="open",
                by=KCC,
                reason=NAME,
                at=at,
            ),
            t.ParticipantAdded(case_id=c, party_id=p, team="wmo", by=KCC, reason=TEXT, at=at),
            t.ParticipantRemoved(case_id=c, party_id=p, team="wmo", by=KCC, reason=TEXT, at=at),
            t.CaseStatusChanged(
                case_id=c, party_id=p, from_status="open", to_status="in behandeling", by=KCC, at=at
            ),
            t.NoteAdded(note_id=uuid.uuid4(), case_id=c, party_id=p, text=TEXT, by=KCC, at=at),
            t.OutboundContactRegistered(
                contact_id=uuid.uuid4(),
                case_id=c,
                party_id=p,
                channel=Channel.PHONE,
                summary=f"{NAME} teruggebeld over {ADDRESS}",
                by=KCC,
                at=at,
            ),
            t.CaseClosed(case_id=c, party_id=p, result=f"{NAME} geholpen", by=KCC, at=at),
            t.CommandRejected(
                command_id=uuid.uuid4(),
                command_type="hand_over",
                party_id=p,
                case_id=c,
                reason=TEXT,
                by=KCC,
                at=at,
            ),
        ]
