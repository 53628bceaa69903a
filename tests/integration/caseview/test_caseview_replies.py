"""Replies (issue #17), caseview's side: ``POST /v1/cases/{id}/replies`` refuses what it can
tell is wrong (RFC 9457, Dutch, the field named) and publishes nothing then; a valid reply
is a ``SendReply`` on the commands topic keyed by the case id, answered 202; a confidential
case to an unverified address becomes a notice without contents; ``reply.requested`` and
``reply.status-changed`` are projected into the history and ``GET .../replies/{id}``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.caseview.replies.routes import REPLY_NAMESPACE
from shared.contracts import Channel
from shared.contracts.commands import SetContactPreferences
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import (
    ContactPreferencesChanged,
    ReplyChannel,
    ReplyRequested,
    ReplyStatus,
    ReplyStatusChanged,
    SendReply,
    identifier_id,
)
from shared.envelope import CloudEvent
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
from tests.support import read_topic

# fresh_db: a database of its own per test (a new migration must not reach the shared one).
pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROBLEM = "application/problem+json"


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert f"'{field}'" in problem["detail"], problem
    assert [e["loc"][-1] for e in problem["errors"]] == [field], problem


async def test_replies_are_checked_rendered_and_published(
    kafka_bootstrap, fresh_db, topics, producer, tmp_path: Path
):
    owner = team_name()
    p = Party()
    verified = f"{uuid.uuid4().hex}@example.org"
    claimed = f"{uuid.uuid4().hex}@example.org"
    phone = "+31612345678"
    events = [
        p.created(
            "Anna de Vries",
            ("email", verified, "verified"),
            ("email", claimed, "claimed"),
            ("phone", phone, "verified"),
        )
    ]
    case_id, number, opened = p.case("afval", owner)
    secret_id, _, secret_opened = p.case("bijstand", owner, confidential=True)
    small = AttachmentRef(sha256="a" * 64, filename="foto.jpg", media_type="image/jpeg", size=50)
    big = AttachmentRef(
        sha256="b" * 64, filename="scan.pdf", media_type="application/pdf", size=5000
    )
    events += [
        opened,
        secret_opened,
        p.message(case_id, number, Channel.EMAIL, "Zie bijlage", attachments=[small]),
    ]
    events.append(p.message(case_id, number, Channel.EMAIL, "Scan", attachments=[big]))
    await send(producer, topics.timeline, *events)

    to_verified = str(identifier_id(p.id, "email", verified))
    to_claimed = str(identifier_id(p.id, "email", claimed))
    to_phone = str(identifier_id(p.id, "phone", phone))
    member = token("u-owner", teams=[owner], roles=["member"])
    settings = settings_for(
        fresh_db,
        kafka_bootstrap,
        topics,
        routing_file=routing_file(tmp_path, "kcc", owner),
        reply_attachments_max_bytes=1000,
    )
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client
        url = f"/v1/cases/{case_id}/replies"
        # The composer's list of templates: the file's, for those who may reply.
        r = await http.get("/v1/reply-templates", headers=member)
        assert r.status_code == 200, r.text
        listed = {(t["name"], t["channel"]) for t in r.json()}
        assert {("algemeen-antwoord", "email"), ("kennisgeving", "letter")} <= listed
        auditor = token(teams=[], roles=["auditor"])
        assert (await http.get("/v1/reply-templates", headers=auditor)).status_code == 403
        base = {"identifier_id": to_verified, "channel": "email", "text": "Uw kliko komt morgen."}
        base["template"] = "algemeen-antwoord"

        # The party view names every identifier by its id.
        party = (await http.get(f"/v1/parties/{p.id}", headers=member)).json()
        assert to_verified in {i["identifier_id"] for i in party["identifiers"]}

        for body, field in (
            ({**base, "identifier_id": str(uuid.uuid4())}, "identifier_id"),
            ({**base, "channel": "sms"}, "channel"),
            ({**base, "identifier_id": to_phone}, "channel"),
            ({**base, "subject": "Hallo\r\nBcc: x@example.org"}, "subject"),
            ({**base, "template": "bestaat-niet"}, "template"),
            ({**base, "template": None, "text": None}, "text"),
            ({**base, "attachments": ["c" * 64]}, "attachments"),
            ({**base, "attachments": [small.sha256, big.sha256]}, "attachments"),
            ({**base, "identifier_id": to_claimed}, "confirm_claimed"),
        ):
            r = await http.post(url, json=body, headers=member)
            _refused(r, field)
        # Another team may not answer on this case.
        stranger = token(teams=[team_name()], roles=["member"])
        assert (await http.post(url, json=base, headers=stranger)).status_code == 403

        preview = await http.post(f"{url}/preview", json=base, headers=member)
        assert preview.status_code == 200, preview.text
        shown = preview.json()
        assert shown["subject"] == f"Antwoord op uw vraag (zaak {number})"
        assert "Beste Anna de Vries" in shown["text"] and "Uw kliko komt morgen." in shown["text"]
        assert shown["notice_only"] is False

        r = await http.post(
            url,
            json={**base, "attachments": [small.sha256]},
            headers={**member, "Idempotency-Key": "k1"},
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] == "requested" and accepted["notice_only"] is False
        assert r.headers["Location"] == f"{url}/{accepted['reply_id']}"
        assert accepted["reply_id"] == str(uuid.uuid5(REPLY_NAMESPACE, accepted["command_id"]))

        # A confidential case to a claimed address: only the notice, no contents, no files.
        secret = await http.post(
            f"/v1/cases/{secret_id}/replies",
            json={**base, "identifier_id": to_claimed, "confirm_claimed": True},
            headers=member,
        )
        assert secret.status_code == 202, secret.text
        assert secret.json()["notice_only"] is True

    records = await read_topic(kafka_bootstrap, topics.commands, expect=2)
    commands = {
        r.key: SendReply.model_validate(CloudEvent.from_json(r.value).data) for r in records
    }
    reply = commands[str(case_id).encode()]
    assert reply.reply_id == uuid.UUID(accepted["reply_id"])
    assert reply.identifier_id == uuid.UUID(to_verified) and reply.channel == ReplyChannel.EMAIL
    assert reply.template == "algemeen-antwoord" and reply.text == shown["text"]
    assert [a.sha256 for a in reply.attachments] == [small.sha256]
    assert reply.by.user == "u-owner" and reply.by.team == owner
    notice = commands[str(secret_id).encode()]
    assert notice.notice_only and notice.template == "kennisgeving" and notice.attachments == []
    assert "Er staat een bericht voor u klaar" in notice.text
    assert "kliko" not in notice.text


async def test_replies_are_projected_with_their_statuses(
    kafka_bootstrap, fresh_db, topics, producer, tmp_path: Path
):
    owner = team_name()
    p = Party()
    address = f"{uuid.uuid4().hex}@example.org"
    events = [p.created("Bert", ("email", address, "verified"))]
    case_id, _, opened = p.case("afval", owner)
    events.append(opened)
    reply_id = uuid.uuid4()
    common = {"reply_id": reply_id, "case_id": case_id, "party_id": p.id}
    events.append(
        p.event(
            ReplyRequested(
                **common,
                identifier_id=identifier_id(p.id, "email", address),
                channel=ReplyChannel.EMAIL,
                recipient_trust="verified",
                subject="Antwoord",
                text="Uw kliko komt morgen.",
                template="algemeen-antwoord",
                attachments=[],
                notice_only=False,
                by=STAFF,
                at=p.at(),
            )
        )
    )
    for status, reason in ((ReplyStatus.SENT, None), (ReplyStatus.BOUNCED, "550 unknown user")):
        events.append(
            p.event(
                ReplyStatusChanged(
                    **common,
                    channel=ReplyChannel.EMAIL,
                    status=status,
                    reason=reason,
                    reference=f"<{reply_id}@example.org>",
                    at=p.at(),
                )
            )
        )
    # A late "delivered" after the bounce: kept in the history, the status stays bounced.
    events.append(
        p.event(
            ReplyStatusChanged(
                **common,
                channel=ReplyChannel.EMAIL,
                status=ReplyStatus.DELIVERED,
                reason=None,
                reference=None,
                at=p.at(),
            )
        )
    )
    await send(producer, topics.timeline, *events)
    member = token(teams=[owner], roles=["member"])
    settings = settings_for(
        fresh_db,
        kafka_bootstrap,
        topics,
        routing_file=routing_file(tmp_path, "kcc", owner),
    )
    async with running(settings) as cv:
        await cv.projected(*events)
        r = await cv.client.get(f"/v1/cases/{case_id}/replies/{reply_id}", headers=member)
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["status"] == "bounced" and view["template"] == "algemeen-antwoord"
        assert view["requested_by"] == STAFF.user and view["text"] == "Uw kliko komt morgen."
        assert [h["status"] for h in view["history"]] == [
            "requested",
            "sent",
            "bounced",
            "delivered",
        ]
        assert view["history"][2]["reason"] == "550 unknown user"

        timeline = (await cv.client.get(f"/v1/cases/{case_id}/timeline", headers=member)).json()[
            "items"
        ]
        outgoing = [e for e in timeline if e["type"].startswith("nl.eenloket.reply.")]
        assert len(outgoing) == 4 and {e["channel"] for e in outgoing} == {"email"}

        missing = f"/v1/cases/{case_id}/replies/{uuid.uuid4()}"
        assert (await cv.client.get(missing, headers=member)).status_code == 404


async def test_channel_choice_preferences_and_fallbacks(
    kafka_bootstrap, fresh_db, topics, producer, tmp_path: Path
):
    """The recipient chosen when staff name none (and why), an opted-out channel refused,
    the preferences command keyed by the party and projected into the party view, and a
    fallback shown on both replies (docs/outbound.md#fallback)."""
    owner = team_name()
    p = Party()
    address = f"{uuid.uuid4().hex}@example.org"
    postal = "Stationsstraat 1, 5038 EA Tilburg"
    events = [
        p.created(
            "Carla",
            ("email", address, "verified"),
            ("phone", "+31687654321", "verified"),
            ("postal_address", postal, "verified"),
        )
    ]
    case_id, number, opened = p.case("afval", owner)
    events += [opened, p.message(case_id, number, Channel.EMAIL, "Mijn kliko is stuk")]
    events.append(
        p.event(
            ContactPreferencesChanged(
                party_id=p.id,
                preferred_channel=ReplyChannel.LETTER,
                opted_out=[ReplyChannel.SMS],
                reason="Inwoner belde: geen sms",
                by=STAFF,
                at=p.at(),
            )
        )
    )
    original, fallback = uuid.uuid4(), uuid.uuid4()
    for reply_id, channel, kind, value, of in (
        (original, ReplyChannel.EMAIL, "email", address, None),
        (fallback, ReplyChannel.LETTER, "postal_address", postal, original),
    ):
        events.append(
            p.event(
                ReplyRequested(
                    reply_id=reply_id,
                    case_id=case_id,
                    party_id=p.id,
                    identifier_id=identifier_id(p.id, kind, value),
                    channel=channel,
                    recipient_trust="verified",
                    subject=None,
                    text="Uw kliko komt morgen.",
                    template=None,
                    attachments=[],
                    notice_only=False,
                    by=STAFF,
                    at=p.at(),
                    fallback_of=of,
                )
            )
        )
    await send(producer, topics.timeline, *events)
    member = token("u-owner", teams=[owner], roles=["member"])
    kcc = token("u-kcc", teams=["kcc"], roles=["kcc"])
    settings = settings_for(
        fresh_db, kafka_bootstrap, topics, routing_file=routing_file(tmp_path, "kcc", owner)
    )
    async with running(settings) as cv:
        await cv.projected(*events)
        http = cv.client
        url = f"/v1/cases/{case_id}/replies"
        r = await http.post(url, json={"text": "Uw kliko komt morgen."}, headers=member)
        assert r.status_code == 202, r.text
        chosen = r.json()
        assert (chosen["channel"], chosen["chosen_because"]) == ("email", "last-message")
        assert chosen["identifier_id"] == str(identifier_id(p.id, "email", address))
        preview = await http.post(f"{url}/preview", json={"text": "x"}, headers=member)
        assert preview.json()["chosen_because"] == "last-message"
        r = await http.post(url, json={"text": "x", "channel": "sms"}, headers=member)
        _refused(r, "channel")
        assert "afgemeld" in r.json()["detail"]

        party = (await http.get(f"/v1/parties/{p.id}", headers=member)).json()
        prefs = party["contact_preferences"]
        assert (prefs["preferred_channel"], prefs["opted_out"]) == ("letter", ["sms"])

        put = f"/v1/parties/{p.id}/contact-preferences"
        body = {"preferred_channel": "email", "opted_out": ["letter"], "reason": "Belde"}
        assert (await http.put(put, json=body, headers=member)).status_code == 403
        bad = {**body, "opted_out": ["email"]}
        assert (await http.put(put, json=bad, headers=kcc)).status_code == 422
        same = {"preferred_channel": "letter", "opted_out": ["sms"], "reason": "Belde"}
        assert (await http.put(put, json=same, headers=kcc)).status_code == 409
        unknown = f"/v1/parties/{uuid.uuid4()}/contact-preferences"
        assert (await http.put(unknown, json=body, headers=kcc)).status_code == 404
        r = await http.put(put, json=body, headers=kcc)
        assert r.status_code == 202, r.text

        view = (await http.get(f"{url}/{original}", headers=member)).json()
        assert (view["fallbacks"], view["fallback_of"]) == ([str(fallback)], None)
        view = (await http.get(f"{url}/{fallback}", headers=member)).json()
        assert (view["fallbacks"], view["fallback_of"]) == ([], str(original))

    records = await read_topic(kafka_bootstrap, topics.commands, expect=2)
    by_type = {CloudEvent.from_json(r.value).type: r for r in records}
    record = by_type["nl.eenloket.party.set-contact-preferences"]
    assert record.key == str(p.id).encode()
    command = SetContactPreferences.model_validate(CloudEvent.from_json(record.value).data)
    assert (command.preferred_channel, command.opted_out) == (
        ReplyChannel.EMAIL,
        [ReplyChannel.LETTER],
    )
    assert command.by.user == "u-kcc"
