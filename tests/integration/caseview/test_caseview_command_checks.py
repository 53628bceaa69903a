"""A staff action caseview can already tell will fail is refused synchronously, with an
RFC 9457 problem whose ``detail`` is Dutch and names the field, and nothing is published:
text PostgreSQL cannot store, over-long text, an unknown team, and everything the read
model knows (a closed case, a decided suggestion, an undone merge, ...)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.caseview.bootstrap import create_app
from services.caseview.config import CaseviewSettings
from services.caseview.rebuild import end_offsets
from shared.contracts import (
    CaseClosed,
    LinkDecided,
    LinkSuggested,
    PartyIdentifier,
    PartyMerged,
    PartyUnmerged,
)
from tests.integration.caseview.conftest import (
    STAFF,
    Party,
    routing_file,
    running,
    send,
    settings_for,
    team_name,
    token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROBLEM = "application/problem+json"
# Dutch words one of which every detail of these refusals uses.
DUTCH = ("veld", "bestaat", "zaak", "al ", "niet", "is ")


def _free_text_fields() -> list[tuple[str, dict[str, Any], str, int]]:
    """(path, a valid body, field, maxLength) for every free-text field of every command
    route, read from the OpenAPI document: a new command or field is covered as it comes."""
    doc = create_app(CaseviewSettings(environment="test")).openapi()
    schemas = doc["components"]["schemas"]
    found = []
    for path, item in doc["paths"].items():
        post = item.get("post")
        if post is None or "commands" not in post.get("tags", ()):
            continue
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[ref.rsplit("/", 1)[1]]
        body = {name: _example(prop, schemas) for name, prop in schema["properties"].items()}
        for name, prop in schema["properties"].items():
            text = _string(prop)
            if text is not None and "enum" not in text and "format" not in text:
                found.append((path, body, name, int(text["maxLength"])))
    return found


def _string(prop: dict[str, Any]) -> dict[str, Any] | None:
    options: list[dict[str, Any]] = [prop, *prop.get("anyOf", ())]
    return next((o for o in options if o.get("type") == "string"), None)


def _example(prop: dict[str, Any], schemas: dict[str, Any]) -> Any:
    if "$ref" in prop:
        prop = schemas[prop["$ref"].rsplit("/", 1)[1]]
    text = _string(prop)
    if text is not None:
        if "enum" in text:
            return text["enum"][0]
        return str(uuid.uuid4()) if text.get("format") == "uuid" else "kcc"
    return False


FIELDS = _free_text_fields()


def _body(body: dict[str, Any], field: str, value: str) -> bytes:
    # ensure_ascii: a lone surrogate travels as the JSON escape \udXXX, as a client sends it.
    return json.dumps({**body, field: value}, ensure_ascii=True).encode()


async def _published(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` (the sum of its partitions' end offsets)."""
    return sum((await end_offsets(bootstrap, topic, f"t-{uuid.uuid4().hex[:8]}")).values())


def _refusal(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = r.json()
    detail = problem["detail"]
    assert any(word in detail for word in DUTCH), detail
    if field is not None:
        assert f"'{field}'" in detail, detail
        assert [e["loc"][-1] for e in problem["errors"]] == [field], problem
    return problem


def test_every_command_route_has_free_text_fields():
    routes = {path for path, *_ in FIELDS}
    assert len(routes) == 9, routes  # every command route with a body of free text
    assert len(FIELDS) >= 11


async def test_unstorable_and_over_long_text_is_a_422_naming_the_field(
    kafka_bootstrap, pg_urls, topics, tmp_path: Path
):
    lead = token(teams=["kcc"], roles=["kcc", "lead"])
    settings = settings_for(pg_urls["caseview"], kafka_bootstrap, topics)
    async with running(settings) as cv:
        for path, body, field, max_length in FIELDS:
            url = path.format(
                case_id=uuid.uuid4(),
                suggestion_id=uuid.uuid4(),
                party_id=uuid.uuid4(),
                merge_id=uuid.uuid4(),
            )
            for bad in ("a\x00b", "a\ud800b", "\udc00", "x" * (max_length + 1)):
                r = await cv.client.post(
                    url,
                    content=_body(body, field, bad),
                    headers={**lead, "Content-Type": "application/json"},
                )
                _refusal(r, 422, field)
    assert await _published(kafka_bootstrap, topics.commands) == 0


async def test_what_the_read_model_knows_is_refused_before_publishing(
    kafka_bootstrap, pg_urls, topics, producer, tmp_path: Path
):
    owner, other = team_name(), team_name()
    p, q, m, s, t = Party(), Party(), Party(), Party(), Party()
    events = [p.created("Anna"), q.created("Bert"), m.created("Bert"), s.created(None)]
    events.append(t.created("Bert B"))
    case_id, _, opened = p.case("afval", owner)
    closed_id, closed_number, opened_closed = p.case("parkeren", owner)
    events += [opened, opened_closed]
    events.append(
        p.event(CaseClosed(case_id=closed_id, party_id=p.id, result="Klaar", by=STAFF, at=p.at()))
    )
    suggestion_id = uuid.uuid4()
    claimed = PartyIdentifier.model_validate(
        {"kind": "email", "value": f"{uuid.uuid4().hex}@example.org", "trust": "claimed"}
    )
    events.append(
        s.event(
            LinkSuggested(
                suggestion_id=suggestion_id,
                party_id=s.id,
                suggested_party_id=p.id,
                identifier=claimed,
                message_id=uuid.uuid4(),
                at=s.at(),
            )
        )
    )
    events.append(
        s.event(
            LinkDecided(
                suggestion_id=suggestion_id,
                party_id=s.id,
                suggested_party_id=p.id,
                confirmed=False,
                by=STAFF,
                reason="Andere persoon",
                at=s.at(),
            )
        )
    )
    # m is merged into q (active); t was merged into q and the merge undone.
    merged = dict(party_id=q.id, by=STAFF, reason="Zelfde persoon")
    events.append(
        q.event(PartyMerged(merge_id=uuid.uuid4(), merged_party_id=m.id, at=q.at(), **merged))
    )
    undone = uuid.uuid4()
    events.append(q.event(PartyMerged(merge_id=undone, merged_party_id=t.id, at=q.at(), **merged)))
    events.append(
        q.event(PartyUnmerged(merge_id=undone, merged_party_id=t.id, at=q.at(), **merged))
    )
    await send(producer, topics.timeline, *events)

    member = token(teams=[owner], roles=["member"])
    lead = token(teams=["kcc"], roles=["kcc", "lead"])
    settings = settings_for(
        pg_urls["caseview"],
        kafka_bootstrap,
        topics,
        routing_file=routing_file(tmp_path, "kcc", owner, other),
    )
    async with running(settings) as cv:
        await cv.projected(*events)
        post = cv.client.post

        # A team the routing file does not know: 422 on the field.
        for route, field in (("handovers", "to_team"), ("participants", "team")):
            r = await post(
                f"/v1/cases/{case_id}/{route}",
                json={field: "bestaat-niet", "reason": "Andere afdeling"},
                headers=member,
            )
            problem = _refusal(r, 422, field)
            assert "bestaat-niet" in problem["detail"]
        # The read model: closed, same status, decided, undone, merged elsewhere.
        closed = f"/v1/cases/{closed_id}"
        for url, body in (
            (f"{closed}/handovers", {"to_team": other, "reason": "Hoort daar"}),
            (f"{closed}/participants", {"team": other}),
            (f"{closed}/status", {"status": "in behandeling"}),
            (f"{closed}/close", {"result": "Nog eens"}),
        ):
            problem = _refusal(await post(url, json=body, headers=member), 409)
            assert closed_number in problem["detail"], problem
        _refusal(
            await post(f"/v1/cases/{case_id}/status", json={"status": "open"}, headers=member),
            409,
        )
        problem = _refusal(
            await post(
                f"/v1/link-suggestions/{suggestion_id}/decision",
                json={"confirm": True},
                headers=lead,
            ),
            409,
        )
        assert "afgewezen" in problem["detail"]
        _refusal(await post(f"/v1/merges/{undone}/undo", json={"reason": "x"}, headers=lead), 409)
        _refusal(
            await post(
                f"/v1/parties/{p.id}/merges",
                json={"merged_party_id": str(m.id), "reason": "Zelfde"},
                headers=lead,
            ),
            409,
        )
        # Not the owner: a Dutch 403.
        _refusal(
            await post(
                f"/v1/cases/{case_id}/handovers",
                json={"to_team": other, "reason": "Hoort daar"},
                headers=token(teams=[other], roles=["member"]),
            ),
            403,
        )
    assert await _published(kafka_bootstrap, topics.commands) == 0
