"""The publisher's mapping: which notifications each timeline event makes (kanaal, resource,
actie, urls, kenmerken), and that none carries personal data."""

from __future__ import annotations

import inspect
import json
import uuid

import pytest

from services.caseview.klantinteracties.mapping import betrokkene_uuid, onderwerpobject_uuid
from services.notifications.mapping import (
    KANALEN,
    KLANTINTERACTIES,
    ZAKEN,
    CaseFacts,
    Mapper,
    Notification,
    Urls,
    next_facts,
)
from shared.contracts import timeline as t
from shared.contracts.base import Event
from shared.contracts.outbound import ReplyRequested, ReplyStatusChanged
from tests.notificaties_events import PERSONAL, Story

KI = "https://gemeente.example/klantinteracties/api/v1"
CV = "https://gemeente.example/v1"
URLS = Urls(KI, CV)


class Facts:
    """case_facts as the consumer keeps them, applied event by event."""

    def __init__(self) -> None:
        self.cases: dict[uuid.UUID, CaseFacts] = {}

    def apply(self, event: Event) -> list[Notification]:
        case_id = getattr(event, "case_id", None)
        if case_id is not None:
            after = next_facts(event, self.cases.get(case_id))
            if after is not None:
                self.cases[case_id] = after
        return Mapper(URLS, self.cases.get)(event)


def test_a_routed_message_is_a_partij_a_zaak_and_a_klantcontact_with_its_parts() -> None:
    story = Story()
    facts = Facts()
    made = [facts.apply(e) for _, e in story.routed()]
    [partij], [zaak], contact = made
    assert (partij.kanaal, partij.resource, partij.actie) == (KLANTINTERACTIES, "partij", "create")
    assert partij.hoofd_object == partij.resource_url == f"{KI}/partijen/{story.party}"
    assert partij.kenmerken == {"soortPartij": "persoon"}
    assert (zaak.kanaal, zaak.resource, zaak.actie) == (ZAKEN, "zaak", "create")
    assert zaak.hoofd_object == f"{CV}/cases/{story.case}"
    assert zaak.kenmerken == {
        "behandelendTeam": "kcc",
        "product": "overlast",
        "vertrouwelijk": "false",
        "status": "open",
    }
    m = story.message
    assert [(n.resource, n.actie, n.resource_url) for n in contact] == [
        ("klantcontact", "create", f"{KI}/klantcontacten/{m}"),
        ("betrokkene", "create", f"{KI}/betrokkenen/{betrokkene_uuid(m)}"),
        ("onderwerpobject", "create", f"{KI}/onderwerpobjecten/{onderwerpobject_uuid(m)}"),
    ]
    for n in contact:
        assert n.kanaal == KLANTINTERACTIES
        assert n.hoofd_object == f"{KI}/klantcontacten/{m}"
        assert n.kenmerken == {
            "kanaal": "email",
            "behandelendTeam": "kcc",
            "product": "overlast",
            "vertrouwelijk": "false",
        }


def test_a_handover_names_the_new_team_and_a_classification_the_confidentiality() -> None:
    story = Story()
    facts = Facts()
    for _, e in story.routed():
        facts.apply(e)
    [handed] = facts.apply(story.handed_over())
    assert (handed.kanaal, handed.resource, handed.actie) == (ZAKEN, "zaak", "partial_update")
    assert handed.kenmerken["behandelendTeam"] == "handhaving"
    classified = t.CaseClassified(
        case_id=story.case,
        party_id=story.party,
        product="schuldhulp",
        confidential=True,
        at=story.handed_over().at,
    )
    [n] = facts.apply(classified)
    assert (n.kenmerken["product"], n.kenmerken["vertrouwelijk"]) == ("schuldhulp", "true")
    only_confidential = classified.model_copy(update={"product": None})
    [n] = facts.apply(only_confidential)
    assert n.kenmerken["product"] == "schuldhulp"
    # Later contacts on the case carry it too.
    later = facts.apply(story.message_routed(uuid.uuid4()))
    assert {x.kenmerken["vertrouwelijk"] for x in later} == {"true"}


def test_a_merge_updates_both_partijen_both_zaken_and_the_moved_contacts() -> None:
    story = Story()
    facts = Facts()
    for _, e in [*story.routed(), *story.merge()[:3]]:
        facts.apply(e)
    merged = facts.apply(story.party_merged())
    assert [(n.resource, n.actie, n.hoofd_object) for n in merged] == [
        ("partij", "partial_update", f"{KI}/partijen/{story.party}"),
        ("partij", "partial_update", f"{KI}/partijen/{story.other}"),
    ]
    folded = facts.apply(story.case_merged())
    assert [(n.resource, n.actie, n.hoofd_object) for n in folded] == [
        ("zaak", "partial_update", f"{CV}/cases/{story.other_case}"),
        ("zaak", "partial_update", f"{CV}/cases/{story.case}"),
        ("onderwerpobject", "update", f"{KI}/klantcontacten/{story.other_message}"),
    ]
    assert folded[0].kenmerken["status"] == "afgehandeld"  # the folded case is closed
    m = story.other_message
    assert folded[2].resource_url == f"{KI}/onderwerpobjecten/{onderwerpobject_uuid(m)}"


def test_work_items_and_rejections_make_no_notification() -> None:
    quiet = (t.LinkSuggested, t.LinkDecided, t.PossibleDuplicateFlagged, t.CommandRejected)
    for event in Story().everything_else():
        made = Facts().apply(event)
        assert (made == []) == isinstance(event, quiet), type(event).__name__


def test_replies_and_registered_contacts_are_outgoing_klantcontacten() -> None:
    """As the facade serves them: a reply is a klantcontact (uuid: the reply id) whose
    delivery status changes it; a contact staff registered is one too, and changes its case."""
    story = Story()
    facts = Facts()
    for _, e in story.routed():
        facts.apply(e)
    reply = uuid.uuid4()
    requested, delivered = story.reply(reply)
    hoofd = f"{KI}/klantcontacten/{reply}"
    made = facts.apply(requested)
    assert [(n.kanaal, n.resource, n.actie, n.hoofd_object) for n in made] == [
        ("klantinteracties", "klantcontact", "create", hoofd),
        ("klantinteracties", "betrokkene", "create", hoofd),
        ("klantinteracties", "onderwerpobject", "create", hoofd),
    ]
    assert made[1].resource_url == f"{KI}/betrokkenen/{betrokkene_uuid(reply)}"
    assert made[0].kenmerken == {
        "behandelendTeam": "kcc",
        "product": "overlast",
        "vertrouwelijk": "false",
        "kanaal": "email",
    }
    [status] = facts.apply(delivered)
    assert (status.resource, status.actie, status.resource_url) == (
        "klantcontact",
        "partial_update",
        hoofd,
    )
    [registered] = [
        e for e in story.everything_else() if isinstance(e, t.OutboundContactRegistered)
    ]
    made = facts.apply(registered)
    assert [(n.resource, n.actie) for n in made] == [
        ("klantcontact", "create"),
        ("betrokkene", "create"),
        ("onderwerpobject", "create"),
        ("zaak", "partial_update"),
    ]
    assert made[0].hoofd_object == f"{KI}/klantcontacten/{registered.contact_id}"
    assert made[0].kenmerken["kanaal"] == "phone"


def all_notifications() -> list[Notification]:
    story = Story()
    facts = Facts()
    events = [e for _, e in story.routed()] + [story.handed_over()]
    events += [e for _, e in story.merge()] + story.everything_else() + story.reply(uuid.uuid4())
    covered = {type(e) for e in events}
    # The timeline's own contracts, and the reply events the router puts on the timeline.
    contract = {
        cls
        for _, cls in inspect.getmembers(t, inspect.isclass)
        if issubclass(cls, Event) and cls is not Event and cls.__module__ == t.__name__
    } | {ReplyRequested, ReplyStatusChanged}
    assert covered == contract, "every timeline event type is tried"
    return [n for e in events for n in facts.apply(e)]


def test_no_notification_carries_personal_data() -> None:
    bodies = json.dumps([n.body() for n in all_notifications()], ensure_ascii=False)
    for value in PERSONAL:
        assert value not in bodies


@pytest.mark.parametrize("kanaal", sorted(KANALEN))
def test_kenmerken_are_strings_among_the_kanaal_filters(kanaal: str) -> None:
    mine = [n for n in all_notifications() if n.kanaal == kanaal]
    assert mine
    for n in mine:
        body = n.body()
        assert set(body["kenmerken"]) <= set(KANALEN[kanaal])
        assert all(isinstance(v, str) for v in body["kenmerken"].values())
        assert body["actie"] in {"create", "update", "partial_update", "destroy"}
        assert body["aanmaakdatum"].endswith("Z")
        assert body["resourceUrl"].startswith(("https://gemeente.example/",))
