"""Continuity without trust: the same conversation stays one conversation (ingest and
router on a real broker and PostgreSQL). Crossing to another party is only a suggestion."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.integration.stack import NOW, post

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_chat_events_of_one_session_stay_with_its_party_and_case(stack):
    ingest, timeline, _, _ = stack
    session = f"s-{uuid.uuid4().hex[:10]}"
    base = {"session_id": session, "occurred_at": NOW}
    started = base | {
        "type": "session.started",
        "event_id": f"{session}-1",
        "visitor": {"handle": "bezoeker-5", "name": "Sam"},
        "topic": "Afval",
        "question": "Mijn container is niet geleegd.",
    }
    # As in docs/channels.md: later events do not repeat the visitor block.
    later = [
        base | {"type": "message", "event_id": f"{session}-2", "text": "Adres: Dorpsstraat 1"},
        base | {"type": "session.ended", "event_id": f"{session}-3", "reason": "visitor-left"},
    ]
    first = await timeline.routed(await post(ingest, "chat", "chat", started))
    for event in later:
        routed = await timeline.routed(await post(ingest, "chat", "chat", event))
        assert (routed.subject, routed.data["case_id"]) == (first.subject, first.data["case_id"])
        assert routed.data["explanation"]["case_rule"] == "thread"
    assert len(timeline.of(first.subject, "party.created")) == 1


def letter(address: list[str], text: str, case_number: str | None = None) -> dict[str, object]:
    scan = {"media_type": "application/pdf", "content_base64": base64.b64encode(b"%PDF").decode()}
    body: dict[str, object] = {
        "letter_id": uuid.uuid4().hex,
        "received_at": NOW,
        "sender": {"name": "P. de Boer", "address_lines": address},
        "subject": "Bezwaar",
        "ocr_text": text,
        "scan": scan,
    }
    if case_number:
        body["case_number"] = case_number
    return body


async def test_a_letter_quoting_its_own_case_number_joins_that_case(stack):
    ingest, timeline, _, _ = stack
    street = f"Molenweg {uuid.uuid4().int % 1000}"
    address = [street, "9999 ZZ Ergens"]
    first = await timeline.routed(
        await post(ingest, "letter", "mailroom", letter(address, "Bezwaar tegen de aanslag."))
    )
    number = first.data["case_number"]
    second = await timeline.routed(
        await post(ingest, "letter", "mailroom", letter(address, "Aanvulling.", number))
    )
    assert (second.subject, second.data["case_id"]) == (first.subject, first.data["case_id"])
    assert second.data["explanation"]["case_rule"] == "case-number"
    assert second.data["flags"] == []
    # Another address quoting the same number: its own party, and only a suggestion.
    other = await timeline.routed(
        await post(ingest, "letter", "mailroom", letter(["Kerkstraat 2", "1000 AA A"], "x", number))
    )
    assert other.subject != first.subject
    assert other.data["case_id"] != first.data["case_id"]
    assert [f["kind"] for f in other.data["flags"]] == ["case-number-of-other-party"]
