"""Telling people apart (search details, postcode search, the logged BSN reveal) and a team's
pending link suggestions with their evidence."""

from __future__ import annotations

import uuid

import pytest

from shared.contracts import Channel, LinkSuggested, PartyIdentifier
from tests.integration.caseview.conftest import Party, running, send, settings_for, team_name, token

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_two_namesakes_told_apart_bsn_revealed_and_suggestions_per_team(
    kafka_bootstrap, pg_urls, topics, producer
):
    team, other = team_name(), team_name()
    name = f"Anna Jansen{uuid.uuid4().hex[:6]}"
    bsn = "999990019"
    postcode = f"{uuid.uuid4().int % 9000 + 1000}"
    email = f"{uuid.uuid4().hex[:8]}@example.nl"
    a, b, s = Party(), Party(), Party()
    events = [
        a.created(
            name,
            ("bsn", bsn, "authenticated"),
            ("postal_address", f"Kerkstraat 12a, {postcode} AB Dorp", "verified"),
            ("email", email, "verified"),
        ),
        b.created(name, ("email", f"{uuid.uuid4().hex[:8]}@example.nl", "claimed")),
        s.created("A. Jansen", ("phone", "+31612345678", "claimed")),
    ]
    case_a, number_a, opened_a = a.case("paspoort", team)
    message_a = a.message(case_a, number_a, Channel.WEB, "Hallo", owner=team)
    case_s, number_s, opened_s = s.case("afval", team)
    message_s = s.message(case_s, number_s, Channel.EMAIL, "Ik ben Anna", owner=team)
    suggestion_id = uuid.uuid4()
    claimed = PartyIdentifier.model_validate({"kind": "email", "value": email, "trust": "claimed"})
    events += [opened_a, message_a, opened_s, message_s]
    events.append(
        s.event(
            LinkSuggested(
                suggestion_id=suggestion_id,
                party_id=s.id,
                suggested_party_id=a.id,
                identifier=claimed,
                message_id=message_s.data["message_id"],
                at=s.at(),
            )
        )
    )
    await send(producer, topics.timeline, *events)
    reader = f"reader-{uuid.uuid4().hex[:8]}"
    kcc = token(reader, teams=[team], roles=["kcc"])
    auditing = token(teams=["audit"], roles=["auditor"])
    async with running(settings_for(pg_urls["caseview"], kafka_bootstrap, topics)) as cv:
        await cv.projected(*events)
        http = cv.client

        r = await http.post("/v1/parties/search", json={"by": "name", "value": name}, headers=kcc)
        assert r.status_code == 200, r.text
        hits = {h["party_id"]: h for h in r.json()["items"]}
        assert set(hits) == {str(a.id), str(b.id)}
        ha, hb = hits[str(a.id)], hits[str(b.id)]
        assert ha["bsn_masked"] == "******019" and bsn not in r.text
        assert (ha["identity_trust"], ha["postcode"], ha["house_number"]) == (
            "authenticated",
            f"{postcode}AB",
            "12",
        )
        assert ha["open_cases"] == 1 and ha["last_contact_at"] is not None
        assert (hb["identity_trust"], hb["bsn_masked"], hb["postcode"], hb["open_cases"]) == (
            "claimed",
            None,
            None,
            0,
        )

        for value, found in ((f"{postcode}ab 12", [str(a.id)]), (f"{postcode} AB 13", [])):
            r = await http.post(
                "/v1/parties/search", json={"by": "postcode", "value": value}, headers=kcc
            )
            assert [h["party_id"] for h in r.json()["items"]] == found, value

        r = await http.get(f"/v1/parties/{a.id}/bsn", headers={**kcc, "X-Purpose": "Balie"})
        assert r.status_code == 200, r.text
        assert r.json()["bsn"] == bsn
        assert (await http.get(f"/v1/parties/{b.id}/bsn", headers=kcc)).status_code == 404
        r = await http.get("/v1/access-log", params={"user": reader}, headers=auditing)
        reveals = [e for e in r.json()["items"] if e["detail"] == "bsn revealed"]
        assert [(e["party_id"], e["outcome"]) for e in reveals] == [
            (str(b.id), "not-found"),
            (str(a.id), "ok"),
        ]
        assert reveals[1]["purpose"] == "Balie" and bsn not in r.text

        r = await http.get(f"/v1/teams/{team}/link-suggestions", headers=kcc)
        assert r.status_code == 200, r.text
        [found] = r.json()["items"]
        assert found["suggestion_id"] == str(suggestion_id)
        assert (found["identifier_value"], found["identifier_trust"]) == (email, "claimed")
        assert (found["held_trust"], found["party_name"], found["suggested_party_name"]) == (
            "verified",
            "A. Jansen",
            name,
        )
        assert (found["message_channel"], found["case_number"]) == ("email", number_s)
        r = await http.get(f"/v1/parties/{a.id}", headers=kcc)
        [incoming] = r.json()["suggested_links"]
        assert (incoming["direction"], incoming["held_trust"]) == ("incoming", "verified")

        outsider = token(teams=[other], roles=["kcc"])
        r = await http.get(f"/v1/teams/{other}/link-suggestions", headers=outsider)
        assert r.json()["items"] == []
        r = await http.get(f"/v1/teams/{team}/link-suggestions", headers=outsider)
        assert r.status_code == 403
