"""Messages of a scenario, built with ingest's own request models and sent through its real
routes (e-mail: an RFC 5322 message over HTTP or through the SMTP receiver).

Each JSON channel has one builder that returns the channel's request model
(``WebFormSubmission``, ``AppMessage``, …). A scenario that does not fit the contract
therefore fails while its message is built, with an error naming the scenario and the step,
not as a 422 halfway through a run; and a change in a contract is a type error here.
"""

from __future__ import annotations

import base64
import re
import smtplib
import uuid
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from scenarios.model import AttachmentSpec, Business, Person, Step
from scenarios.play import Play
from scenarios.results import ScenarioError
from scenarios.stack import MAIL_GATEWAY, api_key
from services.ingest.channels.app import AppMessage, AppParty
from services.ingest.channels.chat import ChatSessionStarted, ChatVisitor
from services.ingest.channels.common import AttachmentUpload
from services.ingest.channels.counter import CounterIdentity, CounterVisit
from services.ingest.channels.letter import LetterSender, ScannedLetter
from services.ingest.channels.phone import CallRecord
from services.ingest.channels.webform import WebFormSubmission

Sender = Person | Business

# How each channel reaches ingest, as the report names it.
TRANSPORT = {
    "web": "portal (HTTP)",
    "app": "app backend (HTTP)",
    "chat": "chat platform (HTTP)",
    "phone": "telephony (HTTP)",
    "counter": "counter application (HTTP)",
    "letter": "mailroom scanner (HTTP)",
    "http": "mail gateway (HTTP)",
    "smtp": "SMTP receiver",
}


# --- the JSON channels: one builder per channel ---------------------------------------


def web_form(play: Play, step: Step, actor: Sender) -> WebFormSubmission:
    web = step.web
    assert web is not None
    ids = play.identifiers(actor, web.send, web.login)
    # The establishment comes with an eHerkenning login only.
    establishment = (
        actor.establishment if isinstance(actor, Business) and web.login == "eherkenning" else None
    )
    return WebFormSubmission(
        submission_id=play.ext(step),
        submitted_at=play.now(),
        authentication=web.login,
        name=actor.name,
        subject=play.fill(web.subject) or "",
        text=play.fill(web.text) or "",
        bsn=ids.get("bsn"),
        kvk=ids.get("kvk"),
        email=ids.get("email"),
        phone=ids.get("phone"),
        product=web.product,
        case_number=play.fill(web.case_number),
        establishment=establishment,
    )


def app_message(play: Play, step: Step, actor: Sender) -> AppMessage:
    app = step.app
    assert app is not None
    ids = play.identifiers(actor, app.send, app.login)
    return AppMessage(
        message_id=play.ext(step),
        conversation_id=play.ext(step, app.conversation),
        sent_at=play.now(),
        party=AppParty(
            authentication=app.login,
            name=actor.name,
            bsn=ids.get("bsn"),
            kvk=ids.get("kvk"),
            email=ids.get("email"),
            phone=ids.get("phone"),
        ),
        subject=play.fill(app.subject),
        text=play.fill(app.text) or "",
        product=app.product,
        case_number=play.fill(app.case_number),
        attachments=[upload(a) for a in app.attachments],
    )


def chat_started(play: Play, step: Step, actor: Sender) -> ChatSessionStarted:
    chat = step.chat
    assert chat is not None
    states_email = actor.email is not None and "email" in (chat.send or [])
    return ChatSessionStarted(
        type="session.started",
        event_id=play.ext(step),
        session_id=play.ext(step, chat.session),
        occurred_at=play.now(),
        visitor=ChatVisitor(
            handle=f"bezoeker-{play.ext(step, chat.session)}",
            name=actor.name,
            email=play.ids.get("email", actor.email) if actor.email and states_email else None,
        ),
        topic=play.fill(chat.topic),
        question=play.fill(chat.text),
    )


def call_record(play: Play, step: Step, actor: Sender) -> CallRecord:
    call = step.phone
    assert call is not None
    start = play.now()
    presented = None if call.anonymous or not actor.phone else play.ids.get("phone", actor.phone)
    return CallRecord(
        call_id=play.ext(step),
        caller_number=presented,
        called_line=call.line,
        caller_id_verified=call.caller_id_verified,
        started_at=start,
        ended_at=start + timedelta(minutes=call.minutes),
        caller_name=actor.name,
        subject=play.fill(call.subject),
        agent_notes=play.fill(call.notes) or "",
        product=call.product,
        case_number=play.fill(call.case_number),
        callback_of=play.ext(step, call.callback_of) if call.callback_of else None,
    )


def counter_visit(play: Play, step: Step, actor: Sender) -> CounterVisit:
    visit = step.counter
    assert visit is not None
    # The BSN comes from the ID document, so only with a check.
    bsn = actor.bsn if visit.id_checked and isinstance(actor, Person) else None
    ids = play.identifiers(actor, list(visit.send or []), "none")
    return CounterVisit(
        visit_id=play.ext(step),
        visited_at=play.now(),
        location=visit.location,
        identity=CounterIdentity(
            checked="id-document" if visit.id_checked else "none",
            bsn=play.ids.get("bsn", bsn) if bsn else None,
        ),
        name=actor.name,
        email=ids.get("email"),
        phone=ids.get("phone"),
        topic=play.fill(visit.topic) or "",
        notes=play.fill(visit.notes) or "",
        product=visit.product,
        case_number=play.fill(visit.case_number),
        attachments=[upload(a) for a in visit.attachments],
    )


def scanned_letter(play: Play, step: Step, actor: Sender) -> ScannedLetter:
    letter = step.letter
    assert letter is not None
    return ScannedLetter(
        letter_id=play.ext(step),
        received_at=play.now(),
        sender=LetterSender(name=actor.name, address_lines=letter.address),
        subject=play.fill(letter.subject),
        ocr_text=play.fill(letter.text) or "",
        # The mailroom always sends the scan itself (the contract requires it).
        scan=upload(AttachmentSpec(filename=f"{step.name}.pdf")),
    )


BUILDERS: dict[str, Callable[[Play, Step, Sender], BaseModel]] = {
    "web": web_form,
    "app": app_message,
    "chat": chat_started,
    "phone": call_record,
    "counter": counter_visit,
    "letter": scanned_letter,
}


def build(play: Play, step: Step, actor: Sender) -> dict[str, Any]:
    """The JSON body of a message step, validated by the channel's own request model."""
    try:
        model = BUILDERS[step.kind](play, step, actor)
    except ValidationError as exc:
        raise ScenarioError(
            f"scenario '{play.scenario.name}', step '{step.name}': the {step.kind} message "
            f"does not fit ingest's {exc.title}: {exc}"
        ) from exc
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- e-mail: an RFC 5322 message --------------------------------------------------------


def mail_from(
    play: Play, step: Step, actor: Sender, *, dmarc: str, to: str, subject: str
) -> EmailMessage:
    """A mail of ``actor`` as the municipality's mail gateway hands it on: with its verdict on
    the sender's domain in Authentication-Results (unless ``dmarc`` is ``none``) and a
    Message-ID of its own, kept for a later step's In-Reply-To."""
    assert actor.email is not None
    sender = play.ids.get("email", actor.email)
    domain = sender.rpartition("@")[2]
    msg = EmailMessage()
    if dmarc != "none":
        msg["Authentication-Results"] = f"{MAIL_GATEWAY}; dmarc={dmarc} header.from={domain}"
    msg["From"] = formataddr((actor.name, sender))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(play.now())
    own = f"{step.name}.{play.run}@{domain}"
    msg["Message-ID"] = f"<{own}>"
    play.done[step.name].mail_id = own
    return msg


def email_message(play: Play, step: Step, actor: Sender) -> EmailMessage:
    """An e-mail step's message, as the mail gateway hands it on (``mail_from``)."""
    mail = step.email
    assert mail is not None
    to = mail.to or play.scenario.mailbox
    subject = play.fill(mail.subject) or ""
    msg = mail_from(play, step, actor, dmarc=mail.dmarc, to=to, subject=subject)
    if mail.in_reply_to:
        earlier = play.done[mail.in_reply_to].mail_id
        msg["In-Reply-To"] = f"<{earlier}>"
        msg["References"] = f"<{earlier}>"
    msg.set_content(play.fill(mail.text) or "")
    for a in mail.attachments:
        maintype, _, subtype = a.media_type.partition("/")
        msg.add_attachment(
            attachment_bytes(a), maintype=maintype, subtype=subtype, filename=a.filename
        )
    return msg


# --- attachments ------------------------------------------------------------------------


def attachment_bytes(a: AttachmentSpec) -> bytes:
    if a.media_type == "application/pdf":
        return b"%PDF-1.4\n% scenario document: " + a.filename.encode() + b"\n%%EOF\n"
    return b"scenario document: " + a.filename.encode()


def upload(a: AttachmentSpec) -> AttachmentUpload:
    # Base64Bytes validates (decodes) the encoded bytes and encodes them again on dumping.
    encoded = base64.b64encode(attachment_bytes(a))
    return AttachmentUpload(filename=a.filename, media_type=a.media_type, content_base64=encoded)


# --- sending ----------------------------------------------------------------------------


class Ingest:
    """Ingest's routes (with each channel's integration key) and its SMTP receiver."""

    def __init__(self, url: str, http: httpx.Client, smtp: tuple[str, int]) -> None:
        self.url = url.rstrip("/")
        self.http = http
        self.smtp = smtp

    def send(self, play: Play, step: Step, actor: Sender) -> tuple[uuid.UUID, str]:
        """Send a message step; the message id ingest gave it, and how it went."""
        if step.email is None:
            body = build(play, step, actor)
            return self._post(step.kind, json=body), TRANSPORT[step.kind]
        msg = email_message(play, step, actor)
        raw = msg.as_bytes()
        if step.email.via == "http":
            headers = {"Content-Type": "message/rfc822"}
            return self._post("email", content=raw, headers=headers), TRANSPORT["http"]
        sender = play.ids.get("email", actor.email or "")
        return self.deliver_smtp(raw, sender=sender, to=str(msg["To"])), TRANSPORT["smtp"]

    def _post(
        self,
        channel: str,
        *,
        json: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> uuid.UUID:
        r = self.http.post(
            f"{self.url}/v1/channels/{channel}",
            json=json,
            content=content,
            headers={**(headers or {}), "X-Api-Key": api_key(channel)},
        )
        if r.status_code != 202:
            raise ScenarioError(f"POST /v1/channels/{channel}: {r.status_code} {r.text[:300]}")
        return uuid.UUID(r.json()["message_id"])

    def deliver_smtp(self, raw: bytes, *, sender: str, to: str) -> uuid.UUID:
        """Hand a mail to the SMTP receiver as the mail gateway does; the id it accepted."""
        host, port = self.smtp
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.ehlo("mailgateway.scenario.example")
            code, reply = smtp.mail(sender)
            if code != 250:
                raise ScenarioError(f"SMTP MAIL FROM: {code} {reply!r}")
            code, reply = smtp.rcpt(to)
            if code not in (250, 251):
                raise ScenarioError(f"SMTP RCPT TO: {code} {reply!r}")
            code, reply = smtp.data(raw)
        text = reply.decode(errors="replace")
        found = re.search(r"Accepted as ([0-9a-f-]{36})", text)
        if code != 250 or found is None:
            raise ScenarioError(f"SMTP DATA: {code} {text}")
        return uuid.UUID(found.group(1))
