"""Staff actions: 202 only after Kafka acknowledged the command, 503 when it cannot."""

from __future__ import annotations

import uuid

import orjson
import pytest

from services.caseview.commands.publish import IDEMPOTENCY_NAMESPACE
from shared.contracts import commands as cmd
from shared.envelope import CloudEvent
from tests.integration.caseview.conftest import (
    Party,
    routing_file,
    running,
    send,
    settings_for,
    team_name,
    token,
)
from tests.support import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_commands_are_published_keyed_by_case_or_party(
    kafka_bootstrap, pg_urls, topics, producer, tmp_path
):
    owner, other = team_name(), team_name()
    p, q = Party(), Party()
    events = [p.created("Anna"), q.created("Anna B")]
    case_id, _, opened = p.case("evenementenvergunning", owner)
    events.append(opened)
    await send(producer, topics.timeline, *events)
    member = token("u-owner", teams=[owner], roles=["member"])
    lead = token("u-lead", teams=["kcc"], roles=["kcc"])
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        routing_file=routing_file(tmp_path, "kcc", owner, other),
    )
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client
        sent = []
        for path, body in (
            ("handovers", {"to_team": other, "reason": "Hoort bij vergunningen"}),
            ("participants", {"team": other, "reason": "vooroverleg"}),
            ("status", {"status": "in behandeling"}),
            ("notes", {"text": "Gebeld"}),
            ("outbound-contacts", {"channel": "phone", "summary": "Teruggebeld"}),
            ("close", {"result": "Vergunning verleend"}),
        ):
            r = await http.post(f"/v1/cases/{case_id}/{path}", json=body, headers=member)
            assert r.status_code == 202, (path, r.text)
            sent.append((r.json()["command_id"], r.json()["type"], case_id))
        # Idempotency-Key: the same key is the same command.
        again = [
            (
                await http.post(
                    f"/v1/cases/{case_id}/notes",
                    json={"text": "Eén keer"},
                    headers={**member, "Idempotency-Key": "k-1"},
                )
            ).json()["command_id"]
            for _ in range(2)
        ]
        assert again[0] == again[1]
        r = await http.post(
            f"/v1/parties/{p.id}/merges",
            json={"merged_party_id": str(q.id), "reason": "Zelfde persoon"},
            headers=lead,
        )
        assert r.status_code == 202, r.text
        sent.append((r.json()["command_id"], r.json()["type"], p.id))

        # Refusals: not the owner (403), unknown case (404), a member may not merge (403),
        # a party into itself (409), an invalid body (422).
        r = await http.post(
            f"/v1/cases/{case_id}/handovers",
            json={"to_team": owner, "reason": "x"},
            headers=token(teams=[other], roles=["member"]),
        )
        assert r.status_code == 403
        r = await http.post(f"/v1/cases/{uuid.uuid4()}/notes", json={"text": "x"}, headers=member)
        assert r.status_code == 404
        r = await http.post(
            f"/v1/parties/{p.id}/merges",
            json={"merged_party_id": str(q.id), "reason": "x"},
            headers=member,
        )
        assert r.status_code == 403
        r = await http.post(
            f"/v1/parties/{p.id}/merges",
            json={"merged_party_id": str(p.id), "reason": "x"},
            headers=lead,
        )
        assert r.status_code == 409
        r = await http.post(f"/v1/cases/{case_id}/status", json={"status": "weg"}, headers=member)
        assert r.status_code == 422

    records = await read_topic(kafka_bootstrap, topics.commands, expect=len(sent) + 2)
    by_id = {CloudEvent.from_json(r.value).id: r for r in records}
    for command_id, type_, key in sent:
        record = by_id[uuid.UUID(command_id)]
        event = CloudEvent.from_json(record.value)
        assert event.type == type_
        assert record.key == str(key).encode()
        assert event.subject == str(key)
    handover = cmd.HandOverCase.model_validate(
        orjson.loads(by_id[uuid.UUID(sent[0][0])].value)["data"]
    )
    assert (handover.from_team, handover.to_team) == (owner, other)
    assert handover.by.user == "u-owner" and handover.by.team == owner
    assert [CloudEvent.from_json(r.value).id for r in records].count(uuid.UUID(again[0])) == 2


async def test_kafka_away_is_a_503_with_retry_after(kafka_bootstrap, pg_urls, topics, producer):
    owner = team_name()
    p = Party()
    case_id, _, opened = p.case("afval", owner)
    events = [p.created("X"), opened]
    await send(producer, topics.timeline, *events)
    settings = settings_for(
        pg_urls["caseview"], kafka_bootstrap, topics, command_publish_timeout=2.0
    )
    user, key = f"u-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    member = token(user, teams=[owner], roles=["member"])
    async with running(settings) as cv:
        await cv.projected(*events)
        # The producer loses its broker: the command must not be reported as accepted.
        await cv.app.state.producer.stop()
        r = await cv.client.post(
            f"/v1/cases/{case_id}/notes",
            json={"text": "x"},
            headers={**member, "Idempotency-Key": key},
        )
        # ... nor does its status say so.
        sent = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user}\n{key}")
        assert (await cv.client.get(f"/v1/commands/{sent}", headers=member)).status_code == 404
    assert r.status_code == 503
    assert r.headers["retry-after"] == str(settings.retry_after_seconds)
    assert r.headers["content-type"] == "application/problem+json"
