"""The order of history and a case's attachments (issue #19): newest first by when it
happened, imported history marked with the time it was recorded; attachments only through
caseview, with need-to-know and an access-log entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.attachments import Blob, LocalAttachmentStore
from shared.contracts import CaseHandedOver, CaseStatusChanged, Channel, MessageRouted
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

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_history_is_ordered_by_when_it_happened_and_attachments_are_read_through_caseview(
    kafka_bootstrap, db_urls, topics, producer, tmp_path: Path
):
    store = LocalAttachmentStore(tmp_path / "attachments")
    photo = await store.put(Blob(PNG, "stoep foto.png", "image/png"))
    p = Party()
    created = p.created("Sanne de Vries")
    case, number, opened = p.case("paspoort", "kcc")
    live = p.message(case, number, Channel.APP, "Mijn stoep is kapot", attachments=[photo])
    # Imported: recorded now (the event's time), happened two months ago.
    old = p.message(case, number, Channel.LETTER, "Brief uit het oude systeem")
    old_data = MessageRouted.model_validate(old.data)
    october = live.time - timedelta(days=60)
    imported = old.model_copy(
        update={
            "data": old_data.model_copy(update={"received_at": october}).model_dump(mode="json")
        }
    )
    secret_case, secret_no, secret_opened = p.case("bijstand", "werk-inkomen", confidential=True)
    secret = p.message(secret_case, secret_no, Channel.APP, "Mijn situatie", attachments=[photo])
    events = [created, opened, live, imported, secret_opened, secret]
    await send(producer, topics.timeline, *events)

    settings = settings_for(
        db_urls["caseview"], kafka_bootstrap, topics, attachment_dir=tmp_path / "attachments"
    )
    kcc = token("u-kcc", teams=["kcc"], roles=["kcc"])
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client

        r = await http.get(f"/v1/cases/{case}/timeline", headers=kcc)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        # The imported letter was recorded last but happened first: it sits at the bottom.
        assert [i["event_id"] for i in items] == [str(live.id), str(opened.id), str(imported.id)]
        letter = items[-1]
        assert letter["imported"] is True
        assert letter["recorded_at"] > letter["occurred_at"]
        assert items[0]["imported"] is False
        r = await http.get(f"/v1/parties/{p.id}/timeline", headers=kcc)
        assert r.json()["items"][-1]["event_id"] == str(imported.id)

        # The photo, through the case: inline, with its type and name; logged.
        path = f"/v1/cases/{case}/attachments/{photo.sha256}"
        r = await http.get(path, headers={**kcc, "X-Purpose": "bijlage bekijken"})
        assert r.status_code == 200, r.text
        assert r.content == PNG
        assert r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"].startswith('inline; filename="stoep foto.png"')
        auditor = token(teams=[], roles=["auditor"])
        r = await http.get("/v1/access-log", params={"case_id": str(case)}, headers=auditor)
        entries = [e for e in r.json()["items"] if e.get("detail") == "attachment"]
        assert [(e["user"], e["outcome"], e["purpose"]) for e in entries] == [
            ("u-kcc", "ok", "bijlage bekijken")
        ]

        # Need-to-know: the same photo on a confidential case of another team is not served;
        # a hash the case does not have, neither.
        r = await http.get(f"/v1/cases/{secret_case}/attachments/{photo.sha256}", headers=kcc)
        assert r.status_code == 404
        r = await http.get(f"/v1/cases/{case}/attachments/{'0' * 64}", headers=kcc)
        assert r.status_code == 404
        store.path(photo.sha256).unlink()
        r = await http.get(path, headers=kcc)
        assert (r.status_code, r.json()["title"]) == (404, "Attachment not in the store")
        member = token(teams=["werk-inkomen"], roles=["member"])
        r = await http.get(f"/v1/cases/{secret_case}/attachments/{photo.sha256}", headers=member)
        assert r.status_code == 404  # it may: the bytes are gone, not the right to see them
        assert r.json()["title"] == "Attachment not in the store"


async def test_queue_rows_say_what_and_who_and_the_lead_sees_the_team_at_a_glance(
    kafka_bootstrap, db_urls, topics, producer
):
    team = team_name()
    p = Party()
    created = p.created("Sanne de Vries")
    late, late_no, late_opened = p.case(
        "paspoort", team, due_at=datetime.now(UTC) - timedelta(days=1)
    )
    msg = p.message(late, late_no, Channel.APP, "Foto van de stoep", subject="Kapotte stoep")
    busy, busy_no, busy_opened = p.case("rijbewijs", team)
    handovers = [
        p.event(
            CaseHandedOver(
                case_id=busy,
                case_number=busy_no,
                party_id=p.id,
                from_team=team,
                to_team=team,
                by=STAFF,
                reason="terug",
                handover_count=n,
                at=p.at(),
            )
        )
        for n in (1, 2, 3)
    ]
    status = p.event(
        CaseStatusChanged(
            case_id=busy, party_id=p.id, from_status="open", to_status="in behandeling",
            by=STAFF, at=p.at(),
        )
    )  # fmt: skip
    events = [created, late_opened, msg, busy_opened, *handovers, status]
    await send(producer, topics.timeline, *events)
    settings = settings_for(db_urls["caseview"], kafka_bootstrap, topics)
    member = token(teams=[team], roles=["member"])
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client
        r = await http.get(f"/v1/teams/{team}/queue", headers=member)
        assert r.status_code == 200, r.text
        rows = {i["id"]: i for i in r.json()["items"]}
        assert rows[str(late)]["subject"] == "Kapotte stoep"
        assert rows[str(late)]["channel"] == "app"
        assert rows[str(late)]["resident"] == "Sanne de Vries"
        assert rows[str(late)]["overdue"] is True
        assert rows[str(busy)]["handover_count"] == 3
        r = await http.get(
            f"/v1/teams/{team}/queue", params={"status": "in behandeling"}, headers=member
        )
        assert [i["id"] for i in r.json()["items"]] == [str(busy)]
        assert r.json()["total"]["value"] == 1

        r = await http.get(f"/v1/teams/{team}/overview", headers=member)
        assert r.status_code == 200, r.text
        o = r.json()
        assert (o["backlog"], o["overdue"], o["handed_over"], o["handovers"]) == (2, 1, 1, 3)
        assert o["passed_around"] == 1
        assert {a["bucket"]: a["count"] for a in o["ages"]}["under-1-day"] == 2
        assert sum(a["count"] for a in o["ages"]) == 2
        other = token(teams=["kcc"], roles=["member"])
        r = await http.get(f"/v1/teams/{team}/overview", headers=other)
        assert r.status_code == 403
