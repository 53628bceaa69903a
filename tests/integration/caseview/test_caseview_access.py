"""Access: tokens (401), roles (403), need-to-know on confidential cases, and the access log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.caseview.auth import mint_token
from shared.contracts import Channel, NoteAdded, ParticipantAdded
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


async def test_confidential_contents_hidden_from_other_teams_and_visible_to_owner_and_participant(
    kafka_bootstrap, pg_urls, topics, producer
):
    werk, schuld, kcc_team = team_name(), team_name(), team_name()
    p = Party()
    created = p.created("Fatima el Amrani", ("bsn", "111222333", "authenticated"))
    # Confidential by caseview's own product list (the router did not flag it) ...
    benefit, benefit_no, opened = p.case("Bijstandsuitkering", werk)
    secret = p.message(benefit, benefit_no, Channel.WEB, "Ik heb schulden", owner=werk)
    note = p.event(
        NoteAdded(
            note_id=uuid.uuid4(),
            case_id=benefit,
            party_id=p.id,
            text="Intake gepland",
            by=STAFF,
            at=p.at(),
        )
    )
    joined = p.event(
        ParticipantAdded(
            case_id=benefit, party_id=p.id, team=schuld, by=STAFF, reason=None, at=p.at()
        )
    )
    # ... and one the router flagged, whatever its product.
    flagged, flagged_no, flagged_opened = p.case("paspoort", werk, confidential=True)
    flagged_msg = p.message(flagged, flagged_no, Channel.EMAIL, "Vertrouwelijk", owner=werk)
    # An ordinary case stays visible to everyone.
    bin_case, bin_no, bin_opened = p.case("afval", kcc_team)
    bin_msg = p.message(bin_case, bin_no, Channel.PHONE, "Container vergeten", owner=kcc_team)
    events = [
        created,
        opened,
        secret,
        note,
        joined,
        flagged_opened,
        flagged_msg,
        bin_opened,
        bin_msg,
    ]
    await send(producer, topics.timeline, *events)

    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(*events)

        async def timeline(teams: list[str]) -> dict[str, dict[str, Any]]:
            r = await cv.client.get(
                f"/v1/parties/{p.id}/timeline", headers=token(teams=teams, roles=["member"])
            )
            assert r.status_code == 200, r.text
            return {i["event_id"]: i for i in r.json()["items"]}

        other = await timeline([kcc_team])
        for e in (opened, secret, note, joined, flagged_opened, flagged_msg):
            item = other[str(e.id)]
            assert item["redacted"] is True
            assert "Ik heb schulden" not in str(item) and "Intake" not in str(item)
            assert "Bijstand" not in str(item) and "Vertrouwelijk" not in str(item)
        # That a contact happened, when, on which channel, and who owns the case.
        assert other[str(secret.id)]["channel"] == "web"
        assert other[str(secret.id)]["occurred_at"]
        assert other[str(secret.id)]["data"] == {"case_number": benefit_no, "owner_team": werk}
        assert other[str(bin_msg.id)]["redacted"] is False
        assert other[str(bin_msg.id)]["data"]["text"] == "Container vergeten"

        for teams in ([werk], [schuld]):  # owner and participant see everything
            mine = await timeline(teams)
            assert mine[str(secret.id)]["data"]["text"] == "Ik heb schulden"
            assert mine[str(note.id)]["data"]["text"] == "Intake gepland"
        assert (await timeline([schuld]))[str(flagged_msg.id)]["redacted"] is True  # not theirs

        r = await cv.client.get(
            f"/v1/cases/{benefit}", headers=token(teams=[kcc_team], roles=["kcc"])
        )
        case = r.json()
        assert case["redacted"] is True and case["confidential"] is True
        assert case["product"] is None and case["routing_explanations"] == []
        assert case["owner_team"] == werk
        assert [(c["channel"], c["text"]) for c in case["contacts"]] == [("web", None)]
        r = await cv.client.get(
            f"/v1/cases/{benefit}", headers=token(teams=[werk], roles=["member"])
        )
        assert r.json()["product"] == "Bijstandsuitkering"
        assert r.json()["contacts"][0]["text"] == "Ik heb schulden"
        r = await cv.client.get(
            f"/v1/parties/{p.id}", headers=token(teams=[kcc_team], roles=["kcc"])
        )
        summaries = {c["id"]: c for c in r.json()["open_cases"]}
        assert summaries[str(benefit)]["product"] is None
        assert summaries[str(bin_case)]["product"] == "afval"


async def test_tokens_roles_and_not_found(kafka_bootstrap, pg_urls, topics, producer):
    p = Party()
    created = p.created("Jan Jansen", ("bsn", "123456782", "authenticated"))
    await send(producer, topics.timeline, created)
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(created)
        http = cv.client
        url = f"/v1/parties/{p.id}/timeline"

        r = await http.get(url)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        for bad in (
            "not-a-jwt",
            mint_token("u", roles=["kcc"], ttl=timedelta(seconds=-120)),  # expired
            mint_token("u", roles=["kcc"], audience="someone-else"),
            mint_token("u", roles=["kcc"], issuer="https://evil.example"),
        ):
            r = await http.get(url, headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401, bad
        # Signed with another key: refused.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        forged = mint_token("u", roles=["kcc"], private_key_pem=pem)
        assert (
            await http.get(url, headers={"Authorization": f"Bearer {forged}"})
        ).status_code == 401

        # The right role: 200; an auditor or a token without roles: 403, for known and
        # unknown parties alike (a 404 would tell them the party exists or not).
        assert (await http.get(url, headers=token(teams=["kcc"], roles=["kcc"]))).status_code == 200
        for headers in (token(teams=["kcc"], roles=["auditor"]), token(teams=["kcc"], roles=[])):
            assert (await http.get(url, headers=headers)).status_code == 403
            r = await http.get(f"/v1/parties/{uuid.uuid4()}/timeline", headers=headers)
            assert r.status_code == 403
            r = await http.post(
                "/v1/parties/search", json={"by": "bsn", "value": "123456782"}, headers=headers
            )
            assert r.status_code == 403
        r = await http.get(
            f"/v1/parties/{uuid.uuid4()}", headers=token(teams=["kcc"], roles=["kcc"])
        )
        assert r.status_code == 404
        assert r.json()["title"] == "Party not found"

        # A team's queue is for its members only; the access log for auditors only.
        team = team_name()
        r = await http.get(f"/v1/teams/{team}/queue", headers=token(teams=["kcc"], roles=["kcc"]))
        assert r.status_code == 403
        r = await http.get("/v1/access-log", headers=token(teams=["kcc"], roles=["kcc", "lead"]))
        assert r.status_code == 403


async def test_every_read_is_in_the_access_log_and_reading_the_log_is_logged(
    kafka_bootstrap, pg_urls, topics, producer
):
    p = Party()
    created = p.created("Piet Puk", ("email", f"{uuid.uuid4().hex[:8]}@example.nl", "claimed"))
    case_id, number, opened = p.case("afval", "kcc")
    msg = p.message(case_id, number, Channel.WEB, "Hallo")
    events = [created, opened, msg]
    await send(producer, topics.timeline, *events)
    reader = f"reader-{uuid.uuid4().hex[:8]}"
    auditor = f"auditor-{uuid.uuid4().hex[:8]}"
    reading = token(reader, teams=["kcc"], roles=["kcc"])
    auditing = token(auditor, teams=["audit"], roles=["auditor"])
    purpose = {"X-Purpose": "Terugbelverzoek"}
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(*events)
        http = cv.client
        reads = [
            ("GET", f"/v1/parties/{p.id}", "GET /v1/parties/{party_id}"),
            ("GET", f"/v1/parties/{p.id}/timeline", "GET /v1/parties/{party_id}/timeline"),
            ("GET", f"/v1/cases/{case_id}", "GET /v1/cases/{case_id}"),
            ("GET", f"/v1/cases/{case_id}/timeline", "GET /v1/cases/{case_id}/timeline"),
            ("GET", f"/v1/contacts/{msg.data['message_id']}", "GET /v1/contacts/{message_id}"),
        ]
        for method, url, _ in reads:
            r = await http.request(method, url, headers={**reading, **purpose})
            assert r.status_code == 200, (url, r.text)
        r = await http.post(
            "/v1/parties/search", json={"by": "case_number", "value": number}, headers=reading
        )
        assert r.status_code == 200
        missing = uuid.uuid4()
        assert (await http.get(f"/v1/parties/{missing}", headers=reading)).status_code == 404

        r = await http.get("/v1/access-log", params={"user": reader}, headers=auditing)
        assert r.status_code == 200, r.text
        log = list(reversed(r.json()["items"]))
        assert [e["endpoint"] for e in log] == [
            *(endpoint for _, _, endpoint in reads),
            "POST /v1/parties/search",
            "GET /v1/parties/{party_id}",
        ]
        assert all(e["user"] == reader and e["roles"] == ["kcc"] for e in log)
        assert [e["party_id"] for e in log] == [str(p.id)] * 6 + [str(missing)]
        assert [e["case_id"] for e in log[2:5]] == [str(case_id)] * 3
        assert [e["purpose"] for e in log[:5]] == ["Terugbelverzoek"] * 5
        assert [e["outcome"] for e in log] == ["ok"] * 6 + ["not-found"]
        assert log[5]["detail"] == "search by case_number"
        assert number not in str(log)  # what was searched for is not in the log

        # Reading the log is itself logged: the second read sees the first.
        r = await http.get("/v1/access-log", params={"user": auditor}, headers=auditing)
        own = r.json()["items"]
        assert [e["endpoint"] for e in own] == ["GET /v1/access-log"] * 2
        # Filtered by party, with keyset pages.
        r = await http.get(
            "/v1/access-log", params={"party_id": str(p.id), "limit": 4}, headers=auditing
        )
        first = r.json()
        r = await http.get(
            "/v1/access-log",
            params={"party_id": str(p.id), "limit": 4, "cursor": first["next_cursor"]},
            headers=auditing,
        )
        ids = [e["id"] for e in first["items"]] + [e["id"] for e in r.json()["items"]]
        assert len(ids) == len(set(ids)) == 7  # 6 reads + the auditor's filtered read
