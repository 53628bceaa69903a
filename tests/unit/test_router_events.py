"""The router writes its timeline events as JSON dicts, without building the contract models
(a measurable share of its CPU). These tests hold each hand-made dict equal to what the
model gives, so caseview (and any other consumer) reads exactly the same events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.router.domain.model import Case, Party
from services.router.events import case_classified_json, case_opened_json, message_routed_json
from services.router.history import History
from shared.contracts import (
    AttachmentRef,
    CaseClassified,
    CaseOpened,
    Channel,
    Flag,
    IdentifierKind,
    InboundMessage,
    MessageRouted,
    PartyCreated,
    PartyIdentifier,
    RoutingExplanation,
    SenderIdentifier,
    Trust,
)
from shared.envelope import CloudEvent, source_urn
from shared.outbox import outbox_row

SOURCE = source_urn("00000001234567890000", "eenloket-router")
SENDER = SenderIdentifier(kind=IdentifierKind.EMAIL, value="a@b.nl", trust=Trust.CLAIMED)
TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
MOMENTS = [
    datetime(2026, 11, 29, 7, 1, 35, 123456, tzinfo=UTC),
    datetime(2026, 11, 29, 7, 1, 35, tzinfo=UTC),  # no microseconds
    datetime(2026, 6, 1, 12, 0, 0, 500, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 1, 2, 3, 4, 5, 120000),  # naive: as a channel might state it
]


def _case(opened: datetime, **overrides: object) -> Case:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "number": "",
        "party_id": uuid.uuid4(),
        "product": "Paspoort",
        "status": "open",
        "owner_team": "burgerzaken",
        "opened_at": opened,
        "last_activity_at": opened,
        "confidential": False,
        "establishment": None,
    }
    return Case(**(fields | overrides))  # type: ignore[arg-type]


def _message(received: datetime, **overrides: object) -> InboundMessage:
    fields: dict[str, object] = {
        "message_id": uuid.uuid4(),
        "channel": Channel.EMAIL,
        "received_at": received,
        "sender": [SENDER],
        "display_name": "Jan",
        "subject": "Paspoort",
        "text": "Mijn paspoort is verlopen — wanneer kan ik langskomen?",
    }
    return InboundMessage(**(fields | overrides))


ATTACHMENTS = [
    AttachmentRef(sha256="a" * 64, filename="scan.pdf", media_type="application/pdf", size=12),
    AttachmentRef(sha256="b" * 64, media_type="image/png", size=0),
]


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("due", [None, datetime(2026, 12, 10, 7, 1, tzinfo=UTC)])
@pytest.mark.parametrize("product", [None, "Paspoort"])
def test_case_opened_json_is_the_models(moment, due, product):
    case = _case(moment, product=product, confidential=product is None)
    model = CaseOpened(
        case_id=case.id,
        case_number="ZAAK-2026-0000000001",
        party_id=case.party_id,
        product=case.product,
        confidential=case.confidential,
        owner_team=case.owner_team,
        status=case.status,
        opened_at=case.opened_at,
        due_at=due,
    )
    assert case_opened_json(case, "ZAAK-2026-0000000001", due) == model.model_dump(mode="json")


@pytest.mark.parametrize("moment", MOMENTS)
def test_case_classified_json_is_the_models(moment):
    case = _case(moment, confidential=True)
    message = _message(moment)
    model = CaseClassified(
        case_id=case.id,
        party_id=case.party_id,
        product=case.product,
        confidential=case.confidential,
        message_id=message.message_id,
        at=message.received_at,
    )
    assert case_classified_json(case, message) == model.model_dump(mode="json")


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("attachments", [[], ATTACHMENTS])
@pytest.mark.parametrize(
    "flags", [(), (("case-number-of-other-party", "ZAAK-2026-0000000007 is van een ander"),)]
)
@pytest.mark.parametrize("optional", [{}, {"display_name": None, "subject": None, "text": ""}])
def test_message_routed_json_is_the_models(moment, attachments, flags, optional):
    message = _message(moment, attachments=attachments, **optional)
    case = _case(moment)
    party_id = uuid.uuid4()
    explanation = RoutingExplanation(
        case_rule="new-case",
        case_detail="no open case of this party about Paspoort",
        owner_rule="product:Paspoort",
        owner_detail="keyword: paspoort → burgerzaken",
        ruleset_version="2026-11-01",
        matched=["paspoort"],
    )
    model = MessageRouted(
        message_id=message.message_id,
        party_id=party_id,
        case_id=case.id,
        case_number="ZAAK-2026-0000000001",
        channel=message.channel,
        received_at=message.received_at,
        display_name=message.display_name,
        subject=message.subject,
        text=message.text,
        attachments=list(message.attachments),
        owner_team=case.owner_team,
        explanation=explanation,
        flags=[Flag(kind=k, detail=d) for k, d in flags],
    )
    fast = message_routed_json(
        message,
        party_id=party_id,
        case=case,
        number="ZAAK-2026-0000000001",
        explanation=explanation.model_dump(mode="json"),
        flags=flags,
    )
    assert fast == model.model_dump(mode="json")
    assert MessageRouted.model_validate(fast) == model


@pytest.mark.parametrize("trace", [None, {"traceparent": TRACEPARENT}])
def test_history_rows_are_the_envelope_models_and_outbox_rows(trace):
    # History makes the envelope and the outbox row itself: both must be what the envelope
    # model and shared.outbox.outbox_row make of the same event.
    now = datetime(2026, 11, 29, 7, 1, 35, 5, tzinfo=UTC)
    party = Party(id=uuid.uuid4(), provisional=False, version=41)
    history = History(source=SOURCE, topic="omni.timeline.v1", now=now, trace=trace)
    payload = PartyCreated(
        party_id=party.id,
        provisional=False,
        display_name=None,
        identifiers=[PartyIdentifier(kind=IdentifierKind.BSN, value="1", trust=Trust.VERIFIED)],
        created_at=now,
    )
    history.record(party, payload)
    history.record_json(party, MessageRouted.TYPE, {"x": 1}, aggregate="case")
    history.record_unowned(party.id, payload, aggregate="command")
    first, second, unowned = history.rows
    assert history.versions == {party.id: 43}

    for row, data, type_, sequence in (
        (first, payload.model_dump(mode="json"), PartyCreated.TYPE, 42),
        (second, {"x": 1}, MessageRouted.TYPE, 43),
        (unowned, payload.model_dump(mode="json"), PartyCreated.TYPE, None),
    ):
        model = CloudEvent(
            id=row["id"],
            source=SOURCE,
            type=type_,
            subject=str(party.id),
            time=now,
            data=data,
            sequence=sequence,
        )
        assert row["payload"] == model.model_dump(mode="json", exclude_none=True)
        expected = outbox_row(
            topic="omni.timeline.v1",
            aggregatetype=row["aggregatetype"],
            event=model,
            trace=trace,
            created_at=now,
        )
        assert row == expected
    assert [r["aggregatetype"] for r in history.rows] == ["party", "case", "command"]
