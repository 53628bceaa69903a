"""One unified history through real Kafka and a real database: timeline events produced
onto the topic, projected by caseview in-process, read through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts import (
    CaseClosed,
    CaseHandedOver,
    CaseStatusChanged,
    Channel,
    NoteAdded,
    OutboundContactRegistered,
    ParticipantAdded,
)
from shared.contracts.outbound import identifier_id
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    running,
    send,
    settings_for,
    team_name,
    token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_full_history_of_a_party_across_channels_and_cases(
    kafka_bootstrap, db_urls, topics, producer
):
    burgerzaken, evenementen, handhaving = team_name(), team_name(), team_name()
    p = Party()
    bsn = f"{uuid.uuid4().int % 10**9:09d}"
    created = p.created("Émile van den Berg", ("bsn", bsn, "authenticated"))
    passport, passport_no, passport_opened = p.case("paspoort", burgerzaken)
    web = p.message(
        passport, passport_no, Channel.WEB, "Mijn paspoort is verlopen", owner=burgerzaken
    )
    mail = p.message(passport, passport_no, Channel.EMAIL, "Nog een vraag", owner=burgerzaken)
    due = datetime.now(UTC) - timedelta(days=1)  # overdue
    permit, permit_no, permit_opened = p.case("evenementenvergunning", evenementen, due_at=due)
    phone = p.message(permit, permit_no, Channel.PHONE, "Straatfeest op 1 juni", owner=evenementen)
    handover = p.event(
        CaseHandedOver(
            case_id=permit,
            case_number=permit_no,
            party_id=p.id,
            from_team=evenementen,
            to_team=handhaving,
            by=STAFF,
            reason="Geluidsontheffing hoort bij handhaving",
            handover_count=1,
            at=p.at(),
        )
    )
    participant = p.event(
        ParticipantAdded(
            case_id=permit,
            party_id=p.id,
            team=evenementen,
            by=STAFF,
            reason="vooroverleg",
            at=p.at(),
        )
    )
    note = p.event(
        NoteAdded(
            note_id=uuid.uuid4(),
            case_id=permit,
            party_id=p.id,
            text="Buren gebeld",
            by=STAFF,
            at=p.at(),
        )
    )
    called = p.event(
        OutboundContactRegistered(
            contact_id=uuid.uuid4(),
            case_id=permit,
            party_id=p.id,
            channel=Channel.PHONE,
            summary="Teruggebeld over de route",
            by=STAFF,
            at=p.at(),
        )
    )
    status = p.event(
        CaseStatusChanged(
            case_id=permit,
            party_id=p.id,
            from_status="open",
            to_status="in behandeling",
            by=STAFF,
            at=p.at(),
        )
    )
    closed = p.event(
        CaseClosed(case_id=passport, party_id=p.id, result="Afspraak gemaakt", by=STAFF, at=p.at())
    )
    events = [
        created, passport_opened, web, mail, permit_opened, phone,
        handover, participant, note, called, status, closed,
    ]  # fmt: skip
    await send(producer, topics.timeline, *events)

    settings = settings_for(db_urls["caseview"], kafka_bootstrap, topics)
    kcc = token(teams=["kcc"], roles=["kcc"])
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client

        # The whole history, newest first, in the party's own order.
        r = await http.get(f"/v1/parties/{p.id}/timeline", headers=kcc)
        assert r.status_code == 200, r.text
        page = r.json()
        assert [i["sequence"] for i in page["items"]] == list(range(len(events), 0, -1))
        assert [i["event_id"] for i in reversed(page["items"])] == [str(e.id) for e in events]
        assert page["total"] == {"value": len(events), "capped": False}
        assert {i["channel"] for i in page["items"]} == {"web", "email", "phone", None}
        assert page["next_cursor"] is None

        # Keyset pages of 5 add up to the same list.
        seen, cursor = [], None
        while True:
            params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            r = await http.get(f"/v1/parties/{p.id}/timeline", params=params, headers=kcc)
            seen += [i["event_id"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["event_id"] for i in page["items"]]

        # Filters: channel, case, type, date range.
        r = await http.get(f"/v1/parties/{p.id}/timeline", params={"channel": "email"}, headers=kcc)
        assert [i["event_id"] for i in r.json()["items"]] == [str(mail.id)]
        r = await http.get(
            f"/v1/parties/{p.id}/timeline", params={"case_id": str(permit)}, headers=kcc
        )
        assert len(r.json()["items"]) == 7
        r = await http.get(
            f"/v1/parties/{p.id}/timeline",
            params={"type": ["nl.eenloket.case.note-added", "nl.eenloket.case.closed"]},
            headers=kcc,
        )
        assert {i["event_id"] for i in r.json()["items"]} == {str(note.id), str(closed.id)}
        r = await http.get(
            f"/v1/parties/{p.id}/timeline",
            params={
                "since": mail.time.isoformat(),
                "until": (phone.time + timedelta(milliseconds=1)).isoformat(),
            },
            headers=kcc,
        )
        assert [i["event_id"] for i in r.json()["items"]] == [
            str(phone.id), str(permit_opened.id), str(mail.id)
        ]  # fmt: skip
        r = await http.get(f"/v1/parties/{p.id}/timeline", params={"cursor": "bm9wZQ"}, headers=kcc)
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"

        # The party: identifiers with trust, open and closed cases.
        r = await http.get(f"/v1/parties/{p.id}", headers=kcc)
        party = r.json()
        assert party["identifiers"] == [
            {
                "kind": "bsn",
                "value": bsn,
                "trust": "authenticated",
                "evidence": None,  # an event from before evidence existed
                "party_id": str(p.id),
                # A reply's recipient names it by this id (docs/outbound.md).
                "identifier_id": str(identifier_id(p.id, "bsn", bsn)),
            }
        ]
        assert [c["id"] for c in party["open_cases"]] == [str(permit)]
        assert [c["id"] for c in party["closed_cases"]] == [str(passport)]
        assert party["closed_cases"][0]["result"] == "Afspraak gemaakt"

        # The case: owner after the handover, reason, participants, due date, routing, contacts.
        r = await http.get(f"/v1/cases/{permit}", headers=kcc)
        case = r.json()
        assert case["owner_team"] == handhaving
        assert case["participants"] == [evenementen]
        assert case["status"] == "in behandeling"
        assert case["overdue"] is True
        assert case["handover_count"] == 1
        assert case["handovers"][0]["reason"] == "Geluidsontheffing hoort bij handhaving"
        assert case["handovers"][0]["from_team"] == evenementen
        assert [c["direction"] for c in case["contacts"]] == ["outbound", "inbound"]
        assert case["contacts"][1]["text"] == "Straatfeest op 1 juni"
        assert case["routing_explanations"][0]["explanation"]["ruleset_version"] == "test-1"
        r = await http.get(f"/v1/cases/{permit}/timeline", params={"limit": 3}, headers=kcc)
        assert [i["event_id"] for i in r.json()["items"]] == [
            str(status.id),
            str(called.id),
            str(note.id),
        ]
        assert r.json()["total"]["value"] == 7

        # Team queues: the owner and the participant see the open case; sorted, paged.
        for team, role in ((handhaving, "owner"), (evenementen, "participant")):
            member = token(teams=[team], roles=["member"])
            r = await http.get(f"/v1/teams/{team}/queue", params={"sort": "due"}, headers=member)
            assert r.status_code == 200, r.text
            assert [(i["id"], i["role"]) for i in r.json()["items"]] == [(str(permit), role)]
        member = token(teams=[burgerzaken], roles=["member"])
        r = await http.get(f"/v1/teams/{burgerzaken}/queue", headers=member)
        assert r.json()["items"] == []  # the closed passport case left the queue

        # Finding the party: BSN, name prefix (accents and case ignored), case number.
        for by, value in (
            ("bsn", bsn),
            ("name", "emile van"),
            ("name", "BERG"),
            ("case_number", permit_no.lower()),
        ):
            r = await http.post("/v1/parties/search", json={"by": by, "value": value}, headers=kcc)
            assert r.status_code == 200, r.text
            assert str(p.id) in [h["party_id"] for h in r.json()["items"]], (by, value)
        r = await http.post(
            "/v1/parties/search", json={"by": "bsn", "value": "000000000"}, headers=kcc
        )
        assert r.json()["items"] == []


async def test_team_queue_sorts_by_age_and_due_date_with_keyset_pages(
    kafka_bootstrap, pg_urls, topics, producer
):
    team = team_name()
    p = Party()
    events = [p.created("Queue Test")]
    now = datetime.now(UTC)
    dues = [now + timedelta(days=d) for d in (5, 1, 3)] + [None]
    opened = []
    for due in dues:
        case_id, _, e = p.case("afval", team, due_at=due)
        opened.append(case_id)
        events.append(e)
    await send(producer, topics.timeline, *events)
    settings = settings_for(pg_urls["caseview"], kafka_bootstrap, topics)
    member = token(teams=[team], roles=["member"])
    async with running(settings) as cv:
        await cv.projected(*events)

        async def walk(sort: str) -> list[str]:
            ids, cursor = [], None
            while True:
                params: dict[str, str | int] = {"sort": sort, "limit": 1}
                if cursor:
                    params["cursor"] = cursor
                r = await cv.client.get(f"/v1/teams/{team}/queue", params=params, headers=member)
                assert r.status_code == 200, r.text
                assert r.json()["total"] == {"value": 4, "capped": False}
                ids += [i["id"] for i in r.json()["items"]]
                cursor = r.json()["next_cursor"]
                if cursor is None:
                    return ids

        assert await walk("age") == [str(c) for c in opened]
        assert await walk("due") == [str(opened[i]) for i in (1, 2, 0, 3)]
