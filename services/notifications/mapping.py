"""Timeline events → Notificaties API 1.0 notifications (pure: no database, no HTTP).

Informatiearm: a notification says *that* a resource changed and where to read it; its
kenmerken carry only codes a subscriber filters on (the contact's channel, the owning team,
the product code, whether the case is confidential, the case's status) — never a BSN, a
name, an address or a text. ``tests/unit/test_notifications_mapping.py`` fails if one slips in.

Two kanalen (docs/notificaties.md): ``klantinteracties`` for what the Klantinteracties facade
serves (partijen, klantcontacten, betrokkenen, onderwerpobjecten; urls and uuids as the
facade derives them, from its mapping.py), and ``eenloket-zaken`` for cases, whose
hoofdObject is caseview's ``/v1/cases/{id}`` (Eenloket has no Zaken API; the standard
kanaal ``zaken`` is Open Zaak's, and its subscribers expect a Zaken API url there).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.contracts import timeline as t
from shared.contracts.base import Event
from shared.contracts.outbound import ReplyRequested, ReplyStatusChanged
from shared.contracts.vocabulary import CaseStatus
from shared.klantinteracties_ids import (
    Identifier,
    betrokkene_uuid,
    onderwerpobject_uuid,
    soort_partij,
)

KLANTINTERACTIES = "klantinteracties"
ZAKEN = "eenloket-zaken"
# Each kanaal's filters: the kenmerken its notifications may carry (Open Notificaties refuses
# a kenmerk its kanaal does not list), registered on start.
KANALEN: dict[str, tuple[str, ...]] = {
    KLANTINTERACTIES: ("kanaal", "behandelendTeam", "product", "vertrouwelijk", "soortPartij"),
    ZAKEN: ("behandelendTeam", "product", "vertrouwelijk", "status"),
}


@dataclass(frozen=True)
class Urls:
    """``klantinteracties``: the facade's base up to ``/api/v1``; ``caseview``: up to ``/v1``."""

    klantinteracties: str
    caseview: str

    def partij(self, party_id: uuid.UUID) -> str:
        return f"{self.klantinteracties}/partijen/{party_id}"

    def klantcontact(self, message_id: uuid.UUID) -> str:
        return f"{self.klantinteracties}/klantcontacten/{message_id}"

    def zaak(self, case_id: uuid.UUID) -> str:
        return f"{self.caseview}/cases/{case_id}"


@dataclass(frozen=True)
class CaseFacts:
    """What the publisher remembers of a case (its ``case_facts`` table), for kenmerken."""

    owner_team: str
    product: str | None
    confidential: bool
    status: str


@dataclass(frozen=True)
class Notification:
    kanaal: str
    hoofd_object: str
    resource: str
    resource_url: str
    actie: str
    aanmaakdatum: datetime
    kenmerken: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The request body of ``POST /api/v1/notificaties``."""
        return {
            "kanaal": self.kanaal,
            "hoofdObject": self.hoofd_object,
            "resource": self.resource,
            "resourceUrl": self.resource_url,
            "actie": self.actie,
            "aanmaakdatum": self.aanmaakdatum.isoformat().replace("+00:00", "Z"),
            "kenmerken": self.kenmerken,
        }


def case_kenmerken(facts: CaseFacts | None) -> dict[str, str]:
    if facts is None:  # a case from before this publisher's history: nothing to filter on
        return {}
    return {
        "behandelendTeam": facts.owner_team,
        "product": facts.product or "",
        "vertrouwelijk": "true" if facts.confidential else "false",
    }


@dataclass(frozen=True)
class Mapper:
    """``facts``: a case's facts *after* the event was applied (None if unknown)."""

    urls: Urls
    facts: Callable[[uuid.UUID], CaseFacts | None]

    def __call__(self, event: Event) -> list[Notification]:
        handler = _HANDLERS.get(type(event))
        return [] if handler is None else list(handler(self, event))

    # --- klantinteracties ----------------------------------------------------------------

    def partij(
        self, party_id: uuid.UUID, actie: str, at: datetime, **kenmerken: str
    ) -> Notification:
        url = self.urls.partij(party_id)
        return Notification(KLANTINTERACTIES, url, "partij", url, actie, at, kenmerken)

    def contact_part(
        self,
        message_id: uuid.UUID,
        resource: str,
        url: str,
        actie: str,
        at: datetime,
        k: dict[str, str],
    ) -> Notification:
        hoofd = self.urls.klantcontact(message_id)
        return Notification(KLANTINTERACTIES, hoofd, resource, url, actie, at, k)

    def zaak(self, case_id: uuid.UUID, actie: str, at: datetime) -> Notification:
        facts = self.facts(case_id)
        kenmerken = case_kenmerken(facts)
        if facts is not None:
            kenmerken["status"] = facts.status
        url = self.urls.zaak(case_id)
        return Notification(ZAKEN, url, "zaak", url, actie, at, kenmerken)

    def moved_contacts(
        self, message_ids: Iterable[uuid.UUID], case_id: uuid.UUID, at: datetime
    ) -> list[Notification]:
        """The contacts' onderwerpobject now names another case."""
        k = case_kenmerken(self.facts(case_id))
        base = self.urls.klantinteracties
        return [
            self.contact_part(
                m,
                "onderwerpobject",
                f"{base}/onderwerpobjecten/{onderwerpobject_uuid(m)}",
                "update",
                at,
                k,
            )
            for m in message_ids
        ]


def _party_created(m: Mapper, e: t.PartyCreated) -> list[Notification]:
    # Only the kinds of its identifiers decide persoon/organisatie; no value goes anywhere.
    kinds = [Identifier(i.kind.value, "", "") for i in e.identifiers]
    return [m.partij(e.party_id, "create", e.created_at, soortPartij=soort_partij(kinds))]


def _party_identifier(
    m: Mapper, e: t.PartyIdentifierAdded | t.PartyIdentifierRevoked
) -> list[Notification]:
    # The partij, not its partij-identificator: that one's uuid is derived from the value.
    return [m.partij(e.party_id, "partial_update", e.at)]


def _party_merge(m: Mapper, e: t.PartyMerged | t.PartyUnmerged) -> list[Notification]:
    # Both stay readable (a merge is undone by an unmerge): each partij changed, none is gone.
    return [
        m.partij(e.party_id, "partial_update", e.at),
        m.partij(e.merged_party_id, "partial_update", e.at),
    ]


def _contact_created(
    m: Mapper, contact: uuid.UUID, k: dict[str, str], at: datetime
) -> list[Notification]:
    """A klantcontact with its betrokkene and onderwerpobject (the facade's uuids)."""
    base = m.urls.klantinteracties
    return [
        m.contact_part(contact, "klantcontact", m.urls.klantcontact(contact), "create", at, k),
        m.contact_part(
            contact, "betrokkene", f"{base}/betrokkenen/{betrokkene_uuid(contact)}", "create", at, k
        ),
        m.contact_part(
            contact,
            "onderwerpobject",
            f"{base}/onderwerpobjecten/{onderwerpobject_uuid(contact)}",
            "create",
            at,
            k,
        ),
    ]


def _message_routed(m: Mapper, e: t.MessageRouted) -> list[Notification]:
    k = case_kenmerken(m.facts(e.case_id))
    k["behandelendTeam"] = e.owner_team
    k["kanaal"] = e.channel.value
    return _contact_created(m, e.message_id, k, e.received_at)


def _reply_requested(m: Mapper, e: ReplyRequested) -> list[Notification]:
    """A reply is an outgoing klantcontact in the facade (its uuid the reply id)."""
    k = case_kenmerken(m.facts(e.case_id)) | {"kanaal": e.channel.value}
    return _contact_created(m, e.reply_id, k, e.at)


def _reply_status(m: Mapper, e: ReplyStatusChanged) -> list[Notification]:
    """Its delivery status is the klantcontact's ``indicatieContactGelukt``."""
    k = case_kenmerken(m.facts(e.case_id)) | {"kanaal": e.channel.value}
    url = m.urls.klantcontact(e.reply_id)
    return [m.contact_part(e.reply_id, "klantcontact", url, "partial_update", e.at, k)]


def _outbound_registered(m: Mapper, e: t.OutboundContactRegistered) -> list[Notification]:
    """A contact staff registered (a call back, a letter): a klantcontact, and its case
    changed."""
    k = case_kenmerken(m.facts(e.case_id)) | {"kanaal": e.channel.value}
    return [*_contact_created(m, e.contact_id, k, e.at), *_case_changed(m, e)]


def _case_opened(m: Mapper, e: t.CaseOpened) -> list[Notification]:
    return [m.zaak(e.case_id, "create", e.opened_at)]


def _case_changed(m: Mapper, e: Any) -> list[Notification]:
    return [m.zaak(e.case_id, "partial_update", e.at)]


def _case_merged(m: Mapper, e: t.CaseMerged) -> list[Notification]:
    return [
        m.zaak(e.case_id, "partial_update", e.at),
        m.zaak(e.into_case_id, "partial_update", e.at),
        *m.moved_contacts(e.message_ids, e.into_case_id, e.at),
    ]


def _case_unfolded(m: Mapper, e: t.CaseUnfolded) -> list[Notification]:
    return [
        m.zaak(e.case_id, "partial_update", e.at),
        m.zaak(e.from_case_id, "partial_update", e.at),
        *m.moved_contacts(e.message_ids, e.case_id, e.at),
    ]


# Not here, so no notification: link suggestions and decisions and possible duplicates (work
# items for staff; a confirmed link is followed by party.merged), rejected commands.
_HANDLERS: dict[type[Event], Callable[[Mapper, Any], list[Notification]]] = {
    t.PartyCreated: _party_created,
    t.PartyIdentifierAdded: _party_identifier,
    t.PartyIdentifierRevoked: _party_identifier,
    t.PartyMerged: _party_merge,
    t.PartyUnmerged: _party_merge,
    t.MessageRouted: _message_routed,
    t.CaseOpened: _case_opened,
    t.CaseClassified: _case_changed,
    t.CaseHandedOver: _case_changed,
    t.ParticipantAdded: _case_changed,
    t.ParticipantRemoved: _case_changed,
    t.CaseStatusChanged: _case_changed,
    t.CaseClosed: _case_changed,
    t.NoteAdded: _case_changed,
    t.OutboundContactRegistered: _outbound_registered,
    ReplyRequested: _reply_requested,
    ReplyStatusChanged: _reply_status,
    t.CaseMerged: _case_merged,
    t.CaseUnfolded: _case_unfolded,
}
EVENT_TYPES: dict[str, type[Event]] = {cls.TYPE: cls for cls in _HANDLERS}


def next_facts(event: Event, before: CaseFacts | None) -> CaseFacts | None:
    """A case's facts after ``event`` (None: the event does not change a case's facts)."""
    match event:
        case t.CaseOpened():
            return CaseFacts(event.owner_team, event.product, event.confidential, event.status)
        case _ if before is None:
            return None
        case t.CaseClassified():
            confidential = before.confidential or event.confidential
            product = event.product or before.product  # a classification never forgets one
            return CaseFacts(before.owner_team, product, confidential, before.status)
        case t.CaseHandedOver():
            return CaseFacts(event.to_team, before.product, before.confidential, before.status)
        case t.CaseStatusChanged():
            return CaseFacts(
                before.owner_team, before.product, before.confidential, event.to_status
            )
        case t.CaseClosed() | t.CaseMerged():  # a folded case is closed
            return CaseFacts(
                before.owner_team, before.product, before.confidential, CaseStatus.CLOSED
            )
        case t.CaseUnfolded():
            return CaseFacts(before.owner_team, before.product, before.confidential, event.status)
    return None
