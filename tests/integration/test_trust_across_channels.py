"""Where trust comes from, end to end: ingest and router on a real broker and PostgreSQL.

A resident (DigiD) has an e-mail address and a phone number that staff *verified*. Then
somebody else types that address and number on every channel — and sends e-mail from it
without authentication and with a forged Authentication-Results header. Each of those
lands in a new provisional party with a suggested link, never in the resident's history
or case. The same address with a trusted gateway's dmarc=pass, and the number as a
network-verified caller ID, do link.
"""

from __future__ import annotations

import base64
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from stdnum.nl import bsn

from shared.contracts import commands as c
from tests.integration.stack import CLERK, GATEWAY, NOW, post
from tests.integration.test_router import command

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def mail(sender: str, *, authentication_results: str | None = None, text: str = "") -> bytes:
    msg = EmailMessage()
    if authentication_results:
        msg["Authentication-Results"] = authentication_results
    msg["From"] = sender
    msg["To"] = "info@gemeente.example"
    msg["Subject"] = "Wijziging rekeningnummer"
    msg["Message-ID"] = make_msgid(domain="afzender.example")
    msg.set_content(text or "Graag mijn IBAN wijzigen naar NL91ABNA0417164300.")
    return msg.as_bytes()


def attacks(email: str, phone: str) -> dict[str, tuple[str, str, Any]]:
    """channel -> (path, key, body): the resident's verified address and number, *typed*."""
    n, domain = uuid.uuid4().hex[:10], email.split("@")[1]
    text = "Graag mijn IBAN wijzigen naar NL91ABNA0417164300."
    scan = {
        "media_type": "application/pdf",
        "content_base64": base64.b64encode(b"%PDF-1.4\n").decode(),
    }
    return {
        "web": ("web", "portal", {"submission_id": n, "submitted_at": NOW, "email": email,
                                  "phone": phone, "subject": "IBAN", "text": text}),
        "app": ("app", "app", {"message_id": n, "conversation_id": f"c-{n}",
                               "party": {"email": email, "phone": phone}, "text": text}),
        "chat": ("chat", "chat", {"type": "session.started", "event_id": n, "session_id": f"s-{n}",
                                  "occurred_at": NOW, "visitor": {"email": email, "handle": email},
                                  "question": text}),
        "counter": ("counter", "balie", {"visit_id": n, "visited_at": NOW, "email": email,
                                         "phone": phone, "topic": "IBAN", "notes": text}),
        "letter": ("letter", "mailroom", {"letter_id": n, "received_at": NOW, "scan": scan,
                                          "sender": {"email": email, "phone": phone},
                                          "ocr_text": text}),
        "phone": ("phone", "telephony", {"call_id": n, "caller_number": phone,
                                         "called_line": "14 020", "started_at": NOW,
                                         "ended_at": NOW, "agent_notes": text}),
        "email-unauthenticated": ("email", "gateway", mail(email)),
        "email-forged-authentication-results": ("email", "gateway", mail(
            email, authentication_results=f"mx.evil.example; dmarc=pass header.from={domain}",
        )),
        "email-gateway-says-fail": ("email", "gateway", mail(
            email, authentication_results=f"{GATEWAY}; dmarc=fail header.from={domain}",
        )),
    }  # fmt: skip


async def verified_resident(stack: Any) -> tuple[str, str, str]:
    """A resident known by DigiD whose e-mail address and phone number staff verified by
    confirming the suggested links of a mail and a call from them. Returns (party, e-mail,
    phone)."""
    ingest, timeline, topics, producer = stack
    email = f"inwoner-{uuid.uuid4().hex[:8]}@inwoner.example"
    phone = f"+3161{uuid.uuid4().int % 10**7:07d}"
    form = {"authentication": "digid", "bsn": "111222333", "email": email, "phone": phone,
            "subject": "Bijstand", "text": "Ik vraag bijstand aan.", "submitted_at": NOW,
            "submission_id": uuid.uuid4().hex}  # fmt: skip
    form["bsn"] = new_bsn()  # a resident of its own per test
    resident = (await timeline.routed(await post(ingest, "web", "portal", form))).subject
    for path, name, body in (
        ("email", "gateway", mail(email, text="Vraag over mijn aanvraag")),
        ("phone", "telephony", {"call_id": uuid.uuid4().hex, "caller_number": phone,
                                "called_line": "14 020", "started_at": NOW, "ended_at": NOW,
                                "agent_notes": "Belt over aanvraag"}),
    ):  # fmt: skip
        sender = (await timeline.routed(await post(ingest, path, name, body))).subject
        suggestion = await timeline.first(
            "party.link-suggested",
            lambda e, s=sender: e.subject == s and e.data["suggested_party_id"] == resident,
        )
        await command(
            producer,
            topics.commands,
            c.DecideLink(
                suggestion_id=uuid.UUID(suggestion.data["suggestion_id"]),
                confirm=True,
                verify_address=True,
                reason="Inwoner bevestigde telefonisch",
                by=CLERK,
            ),
            uuid.UUID(sender or ""),
        )
    for value in (email, phone):
        await timeline.first(
            "party.identifier-added",
            lambda e, v=value: (
                e.subject == resident
                and e.data["identifier"]["value"] == v
                and e.data["identifier"]["trust"] == "verified"
            ),
        )
    return resident or "", email, phone


def new_bsn() -> str:
    while not bsn.is_valid(value := f"{uuid.uuid4().int % 10**9:09d}"):
        pass
    return value


@pytest.mark.parametrize(
    "channel",
    ["web", "app", "chat", "counter", "letter", "phone", "email-unauthenticated",
     "email-forged-authentication-results", "email-gateway-says-fail"],
)  # fmt: skip
async def test_a_typed_verified_address_never_reaches_the_residents_file(stack, channel):
    ingest, timeline, _, _ = stack
    resident, email, phone = await verified_resident(stack)
    her_cases = {e.data["case_id"] for e in timeline.of(resident, "case.opened")}
    path, name, body = attacks(email, phone)[channel]
    routed = await timeline.routed(await post(ingest, path, name, body))
    assert routed.subject != resident, f"{channel}: a typed value reached the resident's file"
    assert routed.data["case_id"] not in her_cases
    (created,) = timeline.of(routed.subject, "party.created")
    assert created.data["provisional"] is True
    suggested = await timeline.first(
        "party.link-suggested",
        lambda e: e.subject == routed.subject and e.data["suggested_party_id"] == resident,
    )
    assert suggested.data["identifier"]["value"] in (email, phone)


async def test_evidence_of_the_channel_does_link(stack):
    ingest, timeline, _, _ = stack
    resident, email, phone = await verified_resident(stack)
    domain = email.split("@")[1]
    trusted = mail(email, authentication_results=f"{GATEWAY}; dmarc=pass header.from={domain}")
    routed = await timeline.routed(await post(ingest, "email", "gateway", trusted))
    assert routed.subject == resident
    assert routed.data["explanation"]["case_rule"] != ""
    call = {"call_id": uuid.uuid4().hex, "caller_number": phone, "caller_id_verified": True,
            "called_line": "14 020", "started_at": NOW, "ended_at": NOW,
            "agent_notes": "Belt terug"}  # fmt: skip
    routed = await timeline.routed(await post(ingest, "phone", "telephony", call))
    assert routed.subject == resident
