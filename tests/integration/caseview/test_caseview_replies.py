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
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import (
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
