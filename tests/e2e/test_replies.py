"""The way back to the resident, every service a process: a resident's e-mail reaches a case;
staff answer through caseview; the router records it and asks outbound; the mail arrives in a
real Mailpit, threaded and with a token Reply-To; the resident's answer to that address lands
on the same case; a bounce marks the reply ``bounced``. An SMS through MessageBird's API and an
app message through the app backend's webhook (local servers implementing those contracts)
become ``delivered`` by their signed delivery reports. A scanned letter is answered by a PDF
letter with the address in the envelope window; a confidential case sends only a notice to an
address nobody verified (issue #17)."""

from __future__ import annotations

import base64
import io
import re
import smtplib
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pypdfium2 as pdfium
import pytest
from PIL import Image

from scenarios.stack import api_key, ingest_env
from services.caseview.auth import mint_token
from services.ingest.webhook_signatures import sign_app
from shared.devstack import free_port, run_services
from tests.fakes.messagebird import MessageBird
from tests.fakes.webhooks import AppBackend, serving
from tests.mailpit import Mailpit
from tests.support import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

DOMAIN = "gemeente.example"
STAFF = {"Authorization": f"Bearer {mint_token('e2e-kcc', teams=['kcc'], roles=['kcc'])}"}


MESSAGEBIRD_KEY, MESSAGEBIRD_SIGNING_KEY = (
    "test-access-key",
    "test-signing-key-of-32-characters-or-more",
)
APP_SECRET = b"test-app-webhook-secret"


@pytest.fixture(scope="module")
async def providers():
    """MessageBird and the municipality's app backend, as local servers of their contracts."""
    messagebird = MessageBird(MESSAGEBIRD_KEY, MESSAGEBIRD_SIGNING_KEY)
    backend = AppBackend(APP_SECRET)
    async with serving(messagebird.app) as mb_url, serving(backend.app) as app_url:
        yield {
            "messagebird": messagebird,
            "messagebird_url": mb_url,
            "app": backend,
            "app_url": app_url,
        }


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, pg_urls, mailpit, providers, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    common = {
        "EENLOKET_ENVIRONMENT": "test",
        "EENLOKET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EENLOKET_TOPIC_PARTITIONS": "3",
        **{
            f"EENLOKET_TOPIC_{name.upper()}": f"e2e.{name}.{suffix}"
            for name in (
                "inbound",
                "timeline",
                "commands",
                "deadletter",
                "outbound",
                "outbound_status",
                "delivery_reports",
            )
        },
    }
    env = {
        name: {
            **common,
            "EENLOKET_DATABASE_URL": pg_urls[name],
            "EENLOKET_CONSUMER_GROUP": f"e2e-{name}-{suffix}",
        }
        for name in ("ingest", "router", "caseview", "outbound")
    }
    smtp_port, ingest_port = free_port(), free_port()
    letters = tmp_path_factory.mktemp("print-street")
    env["ingest"].update(ingest_env(smtp_port=smtp_port, mail_domains=[DOMAIN]))
    env["ingest"].update(
        {
            "EENLOKET_MESSAGEBIRD_SIGNING_KEY": MESSAGEBIRD_SIGNING_KEY,
            "EENLOKET_APP_WEBHOOK_SECRET": APP_SECRET.decode(),
        }
    )
    env["outbound"].update(
        {
            "EENLOKET_RELAY_HOST": mailpit.smtp_host,
            "EENLOKET_RELAY_PORT": mailpit.smtp.rsplit(":", 1)[1],
            "EENLOKET_RELAY_STARTTLS": "off",
            "EENLOKET_RELAY_FROM_ADDRESS": f"noreply@{DOMAIN}",
            "EENLOKET_RELAY_MAIL_DOMAIN": DOMAIN,
            "EENLOKET_WORKER_POLL_SECONDS": "0.1",
            "EENLOKET_MESSAGEBIRD_ACCESS_KEY": MESSAGEBIRD_KEY,
            "EENLOKET_MESSAGEBIRD_BASE_URL": providers["messagebird_url"],
            "EENLOKET_MESSAGEBIRD_REPORT_URL": (
                f"http://127.0.0.1:{ingest_port}/v1/delivery-reports/messagebird"
            ),
            "EENLOKET_APP_WEBHOOK_URL": f"{providers['app_url']}/events",
            "EENLOKET_APP_WEBHOOK_SECRET": APP_SECRET.decode(),
            "EENLOKET_LETTER_DIR": str(letters),
            "EENLOKET_LETTER_MUNICIPALITY": "Gemeente Voorbeeld",
        }
    )
    logs = tmp_path_factory.mktemp("logs")
    with run_services(env, logs, ports={"ingest": ingest_port}) as services:
        yield {name: s.url for name, s in services.items()} | {
            "smtp_port": smtp_port,
            "letters": letters,
        }


def send_mail(port: int, message: EmailMessage | bytes, *, to: str, sender: str) -> str:
    """Over real SMTP to ingest; the id ingest accepted it as (from its 250 reply)."""
    raw = message if isinstance(message, bytes) else message.as_bytes()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mail.example.nl")
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt(to)[0] == 250
        code, reply = smtp.data(raw)
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]


def resident_mail(sender: str, subject: str, text: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"info@{DOMAIN}"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.nl")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


async def located(http: httpx.AsyncClient, caseview: str, message_id: str) -> Any:
    r = await http.get(f"{caseview}/v1/contacts/{message_id}", headers=STAFF)
    return r.json() if r.status_code == 200 else None


async def reply_status(http: httpx.AsyncClient, caseview: str, case: str, reply: str) -> Any:
    r = await http.get(f"{caseview}/v1/cases/{case}/replies/{reply}", headers=STAFF)
    return r.json() if r.status_code == 200 else None


async def test_a_reply_goes_out_threaded_and_the_answer_comes_back_to_the_case(stack, mailpit):
    cv = stack["caseview"]
    address = f"inwoner-{uuid.uuid4().hex[:8]}@example.nl"
    first = resident_mail(address, "Container niet geleegd", "Mijn grijze container is vergeten.")
    async with httpx.AsyncClient(timeout=10) as http, Mailpit(mailpit) as inbox:
        message_id = send_mail(stack["smtp_port"], first, to=f"info@{DOMAIN}", sender=address)
        where = await eventually(lambda: located(http, cv, message_id), timeout=60)
        party = (await http.get(f"{cv}/v1/parties/{where['party_id']}", headers=STAFF)).json()
        (recipient,) = [i for i in party["identifiers"] if i["value"] == address]

        # A typed (claimed) address needs the staff member's explicit confirmation.
        body = {
            "identifier_id": recipient["identifier_id"],
            "channel": "email",
            "template": "algemeen-antwoord",
            "text": "Wij legen uw container morgen alsnog.",
        }
        refused = await http.post(
            f"{cv}/v1/cases/{where['case_id']}/replies", json=body, headers=STAFF
        )
        assert refused.status_code == 422, refused.text
        accepted = await http.post(
            f"{cv}/v1/cases/{where['case_id']}/replies",
            json={**body, "confirm_claimed": True},
            headers=STAFF,
        )
        assert accepted.status_code == 202, accepted.text
        reply_id = accepted.json()["reply_id"]

        (mail,) = await inbox.wait_for(f"{reply_id}@{DOMAIN}", timeout=60)
        assert mail.header("In-Reply-To") == first["Message-ID"]
        assert first["Message-ID"] in (mail.header("References") or "")
        reply_to = mail.header("Reply-To") or ""
        assert reply_to.startswith("antwoord+") and reply_to.endswith(f"@{DOMAIN}")
        assert where["case_id"] not in reply_to and "ZAAK" not in reply_to
        assert "Wij legen uw container morgen alsnog." in mail.parsed().get_content()
        sent = await eventually(
            lambda: _status_is(http, cv, where["case_id"], reply_id, "sent"), timeout=60
        )
        assert sent["channel"] == "email"

        # The resident answers from another (unverified) address, to the token Reply-To,
        # without quoting: the token alone brings it to the same case.
        answer = resident_mail(
            f"ander-{uuid.uuid4().hex[:6]}@example.nl",
            "Re: Container",
            "Dank u, morgen staat hij buiten.",
            In_Reply_To=f"<{reply_id}@{DOMAIN}>",
        )
        answer_id = send_mail(stack["smtp_port"], answer, to=reply_to, sender=answer["From"])
        landed = await eventually(lambda: located(http, cv, answer_id), timeout=60)
        assert landed["case_id"] == where["case_id"]

        # A bounce to the reply's VERP address marks it bounced; it is not a new message.
        bounce_to = (mail.header("Return-Path") or "").strip("<>")
        assert bounce_to.startswith("bounces+")
        send_mail(stack["smtp_port"], dsn(bounce_to), to=bounce_to, sender="")
        await eventually(
            lambda: _status_is(http, cv, where["case_id"], reply_id, "bounced"), timeout=60
        )


async def _status_is(
    http: httpx.AsyncClient, caseview: str, case: str, reply: str, status: str
) -> Any:
    found = await reply_status(http, caseview, case, reply)
    return found if found and found["status"] == status else None


def dsn(to: str) -> bytes:
    """A Postfix bounce (RFC 3464: 5.1.1 user unknown), addressed to the reply's VERP address."""
    raw = (Path(__file__).parents[1] / "fixtures" / "dsn" / "postfix-bounce.eml").read_bytes()
    return re.sub(rb"bounces\+[a-z2-7]+@gemeente\.example", to.encode(), raw)


async def test_an_sms_and_an_app_message_become_delivered_by_their_signed_reports(stack, providers):
    cv, ingest = stack["caseview"], stack["ingest"]
    number = f"+3161{uuid.uuid4().int % 10**7:07d}"
    async with httpx.AsyncClient(timeout=10) as http:
        # A call whose number the telephony platform vouches for: the party holds the number.
        call = await http.post(
            f"{ingest}/v1/channels/phone",
            headers={"X-Api-Key": api_key("phone")},
            json={
                "call_id": f"call-{uuid.uuid4().hex[:8]}",
                "caller_number": number,
                "caller_id_verified": True,
                "called_line": "14 013",
                "started_at": "2026-12-05T09:00:00+01:00",
                "ended_at": "2026-12-05T09:04:00+01:00",
                "subject": "Parkeervergunning",
                "agent_notes": "Inwoner vraagt of de bewonersvergunning al verlengd is.",
            },
        )
        assert call.status_code == 202, call.text
        where = await eventually(lambda: located(http, cv, call.json()["message_id"]), timeout=60)
        party = (await http.get(f"{cv}/v1/parties/{where['party_id']}", headers=STAFF)).json()
        (phone,) = [i for i in party["identifiers"] if i["kind"] == "phone"]
        sms = await http.post(
            f"{cv}/v1/cases/{where['case_id']}/replies",
            json={
                "identifier_id": phone["identifier_id"],
                "channel": "sms",
                "text": "Uw vergunning is verlengd tot 1 januari 2028.",
                "confirm_claimed": True,
            },
            headers=STAFF,
        )
        assert sms.status_code == 202, sms.text
        sms_id = sms.json()["reply_id"]
        await eventually(lambda: _status_is(http, cv, where["case_id"], sms_id, "sent"), timeout=60)
        mb: MessageBird = providers["messagebird"]
        (message,) = [m for m in mb.messages if m.recipient == number.lstrip("+")]
        assert "verlengd" in message.request["body"]
        assert number not in message.request["reference"]  # the token, not the number
        report = await mb.send_status_report(mb.status_report_url(message, "delivered"))
        assert report.status_code == 202, report.text
        await eventually(
            lambda: _status_is(http, cv, where["case_id"], sms_id, "delivered"), timeout=60
        )
        forged = await mb.send_status_report(
            mb.status_report_url(message, "delivery_failed"),
            signing_key="not-messagebirds-key-but-long-enough-for-hs256",
        )
        assert forged.status_code == 401

        # A resident logged in with DigiD in the app: the answer goes to the app backend.
        bsn = random_bsn()
        app = await http.post(
            f"{ingest}/v1/channels/app",
            headers={"X-Api-Key": api_key("app")},
            json={
                "message_id": f"app-{uuid.uuid4().hex[:8]}",
                "conversation_id": f"conv-{uuid.uuid4().hex[:8]}",
                "party": {"authentication": "digid", "bsn": bsn},
                "subject": "Container",
                "text": "Mijn container is niet geleegd.",
            },
        )
        assert app.status_code == 202, app.text
        at = await eventually(lambda: located(http, cv, app.json()["message_id"]), timeout=60)
        party = (await http.get(f"{cv}/v1/parties/{at['party_id']}", headers=STAFF)).json()
        (login,) = [i for i in party["identifiers"] if i["kind"] == "bsn"]
        reply = await http.post(
            f"{cv}/v1/cases/{at['case_id']}/replies",
            json={
                "identifier_id": login["identifier_id"],
                "channel": "app",
                "text": "Wij legen hem morgen alsnog.",
            },
            headers=STAFF,
        )
        assert reply.status_code == 202, reply.text
        app_reply = reply.json()["reply_id"]
        backend: AppBackend = providers["app"]
        await eventually(lambda: _true(app_reply in backend.events), timeout=60)
        body = orjson.dumps({"reference": app_reply, "status": "delivered"})
        report = await http.post(
            f"{ingest}/v1/delivery-reports/app",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Eenloket-Signature": sign_app(APP_SECRET, body),
                "X-Eenloket-Timestamp": str(int(time.time())),
            },
        )
        assert report.status_code == 202, report.text
        await eventually(
            lambda: _status_is(http, cv, at["case_id"], app_reply, "delivered"), timeout=60
        )


def random_bsn() -> str:
    """A BSN that passes the 11-proef, new for every run."""
    while True:
        digits = [int(d) for d in f"{uuid.uuid4().int % 10**8:08d}"]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10 and digits[0]:
            return "".join(map(str, digits)) + str(check)


async def _true(value: bool) -> bool | None:
    return value or None


def scan_png() -> str:
    """A scanned page (a small white PNG), base64."""
    image = Image.new("L", (40, 60), 255)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def test_a_letter_answers_a_letter_with_the_address_in_the_window(stack):
    cv, ingest = stack["caseview"], stack["ingest"]
    street = f"Kerkstraat {uuid.uuid4().int % 900 + 10}"
    async with httpx.AsyncClient(timeout=10) as http:
        letter = await http.post(
            f"{ingest}/v1/channels/letter",
            headers={"X-Api-Key": api_key("letter")},
            json={
                "letter_id": f"post-{uuid.uuid4().hex[:8]}",
                "received_at": "2026-12-04T09:00:00+01:00",
                "sender": {"name": "J. de Vries", "address_lines": [street, "5038 AB Tilburg"]},
                "subject": "Bezwaar WOZ-waarde",
                "ocr_text": "Ik ben het niet eens met de WOZ-waarde op mijn aanslag.",
                "scan": {
                    "filename": "scan.png",
                    "media_type": "image/png",
                    "content_base64": scan_png(),
                },
            },
        )
        assert letter.status_code == 202, letter.text
        where = await eventually(lambda: located(http, cv, letter.json()["message_id"]), timeout=60)
        # No recipient named: the resident's last message on the case decides (a letter).
        reply = await http.post(
            f"{cv}/v1/cases/{where['case_id']}/replies",
            json={"text": "Wij hebben uw bezwaar ontvangen.", "confirm_claimed": True},
            headers=STAFF,
        )
        assert reply.status_code == 202, reply.text
        assert (reply.json()["channel"], reply.json()["chosen_because"]) == (
            "letter",
            "last-message",
        )
        reply_id = reply.json()["reply_id"]
        await eventually(
            lambda: _status_is(http, cv, where["case_id"], reply_id, "handed-to-print"), timeout=60
        )
        case = (await http.get(f"{cv}/v1/cases/{where['case_id']}", headers=STAFF)).json()
    pdf = stack["letters"] / f"{reply_id}.pdf"
    document = pdfium.PdfDocument(pdf)
    page = document[0]
    text = page.get_textpage().get_text_range()
    assert street in text and "5038 AB Tilburg" in text
    assert case["number"] in text and "Wij hebben uw bezwaar ontvangen." in text
    # The address block in the envelope window (DIN 5008 form B: 20 mm from the left, 45 mm
    # from the top, 85 x 45 mm) has ink; the page renders to an image as a printer would.
    scale = 72 / 25.4 * 2
    image = page.render(scale=2).to_pil().convert("L")
    document.close()
    window = image.crop(
        (round(20 * scale), round(50 * scale), round(105 * scale), round(90 * scale))
    )
    assert window.getextrema()[0] < 100, "the address block is blank"


async def test_a_confidential_case_sends_only_a_notice_to_an_address_nobody_verified(
    stack, mailpit
):
    cv = stack["caseview"]
    address = f"inwoner-{uuid.uuid4().hex[:8]}@example.nl"
    first = resident_mail(
        address, "Bijstand aanvragen", "Ik ben mijn baan verloren en wil bijstand aanvragen."
    )
    team = {
        "Authorization": "Bearer "
        + mint_token("e2e-wi", teams=["werk-en-inkomen"], roles=["member"])
    }
    async with httpx.AsyncClient(timeout=10) as http, Mailpit(mailpit) as inbox:
        message_id = send_mail(stack["smtp_port"], first, to=f"info@{DOMAIN}", sender=address)
        where = await eventually(lambda: located(http, cv, message_id), timeout=60)
        party = (await http.get(f"{cv}/v1/parties/{where['party_id']}", headers=team)).json()
        (recipient,) = [i for i in party["identifiers"] if i["value"] == address]
        secret = "Uw uitkering gaat in op 1 januari; het bedrag is 1.234 euro."
        reply = await http.post(
            f"{cv}/v1/cases/{where['case_id']}/replies",
            json={
                "identifier_id": recipient["identifier_id"],
                "channel": "email",
                "text": secret,
                "confirm_claimed": True,
            },
            headers=team,
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["notice_only"] is True
        (mail,) = await inbox.wait_for(f"{reply.json()['reply_id']}@{DOMAIN}", timeout=60)
    body = mail.parsed().get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    assert "Er staat een bericht voor u klaar" in content
    assert "uitkering" not in content and "1.234" not in content
