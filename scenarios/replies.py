"""Replies of a scenario (issue #17). A staff ``reply`` goes through caseview
(``POST /v1/cases/{id}/replies``) to the actor's e-mail address on the case's party; the runner
waits until the outbound service reports it ``sent`` (its status in the party's history, which
also names the mail's Message-ID). The resident's ``answer`` is made from that mail as it
arrived in Mailpit — to its Reply-To, with In-Reply-To and References — and sent through
ingest's SMTP receiver, as a mail program would."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from scenarios.caseview import Caseview
from scenarios.mailbox import ArrivedMail, Mailbox
from scenarios.model import Business, Person, Reply, Step
from scenarios.play import Play
from scenarios.results import Outcome, ScenarioError, StepResult, Verdict, outcome
from scenarios.send import Ingest, mail_from

STATUS_CHANGED = "nl.eenloket.reply.status-changed"
# Strongest first: the reply goes to the best-known record of the address.
TRUST = ("authenticated", "verified", "claimed")
DONE = ("sent", "delivered")
FAILED = ("bounced", "failed")


def request_body(play: Play, cv: Caseview, reply: Reply) -> dict[str, Any]:
    """The reply request: the recipient is the identifier of the actor's address on the
    case's party (its id, never the address itself)."""
    case = cv.case(play.case_of(reply.case))
    actor = play.scenario.actors[reply.recipient]
    assert isinstance(actor, Person | Business)
    assert actor.email is not None
    address = play.ids.get("email", actor.email)
    found = [
        i
        for i in cv.party(uuid.UUID(case["party_id"]))["identifiers"]
        if i["kind"] == "email" and i["value"].lower() == address
    ]
    if not found:
        raise ScenarioError(f"the case's party has no e-mail address of '{reply.recipient}'")
    best = min(found, key=lambda i: TRUST.index(i["trust"]) if i["trust"] in TRUST else 9)
    body: dict[str, Any] = {
        "identifier_id": best["identifier_id"],
        "channel": reply.channel,
        "confirm_claimed": reply.confirm_claimed,
    }
    for name in ("template", "subject", "text"):
        value = getattr(reply, name)
        if value is not None:
            body[name] = play.fill(value) if name != "template" else value
    return body


def wait_sent(play: Play, cv: Caseview, step: Step, result: StepResult) -> None:
    """Until the outbound service has sent the reply; its Message-ID is left for an answer."""
    assert result.case_id is not None
    party_id = uuid.UUID(cv.case(result.case_id)["party_id"])

    def sent() -> dict[str, Any] | None:
        for e in cv.timeline(party_id, STATUS_CHANGED):
            d = e["data"]
            if d.get("reply_id") != str(result.reply_id):
                continue
            if d["status"] in FAILED:
                raise ScenarioError(f"reply '{step.name}' {d['status']}: {d.get('reason')}")
            if d["status"] in DONE:
                return dict(d)
        return None

    status = cv.eventually(sent, f"reply '{step.name}' sent")
    result.reply_status = status["status"]
    play.done[step.name].mail_id = status.get("reference")


def answer(
    play: Play,
    cv: Caseview,
    step: Step,
    actor: Person | Business,
    ingest: Ingest,
    mailbox: Mailbox | None,
) -> tuple[uuid.UUID, str]:
    """Read the reply's mail in Mailpit and answer it through the SMTP receiver; the message
    id ingest accepted it as, and how it went."""
    assert step.answer is not None
    if mailbox is None:
        raise ScenarioError("an answer needs the residents' inbox: the stack gives no Mailpit")
    wanted = play.done[step.answer.reply].mail_id
    if wanted is None:
        raise ScenarioError(f"reply '{step.answer.reply}' has no sent mail to answer")
    mail = cv.eventually(lambda: mailbox.find(wanted), f"the mail of '{step.answer.reply}'")
    play.report.outcomes.append(threading(step.name, step.answer.reply, mail))
    msg = answer_message(play, step, actor, mail)
    sender = play.ids.get("email", actor.email or "")
    message_id = ingest.deliver_smtp(msg.as_bytes(), sender=sender, to=str(msg["To"]))
    return message_id, "SMTP receiver (Reply-To)"


def threading(name: str, reply: str, mail: ArrivedMail) -> Outcome:
    """The mail as it arrived: a token Reply-To (``antwoord+<token>@``, no case id or number
    in it), and threaded onto the resident's earlier mail. Shown without the addresses."""
    reply_to = parseaddr(mail.reply_to or "")[1]
    local = reply_to.rpartition("@")[0]
    token = local.startswith("antwoord+") and "ZAAK" not in local.upper()
    in_reply_to = bool(mail.headers.get("in-reply-to"))
    checks: list[Verdict] = [
        (f"the mail of '{reply}' has a token Reply-To", token, "Reply-To " + (local[:9] or "none")),
        (f"the mail of '{reply}' is threaded (In-Reply-To)", in_reply_to, "no In-Reply-To"),
    ]
    return outcome(name, None, checks)


def answer_message(
    play: Play, step: Step, actor: Person | Business, mail: ArrivedMail
) -> EmailMessage:
    """The resident's answer as a mail program writes it: to the Reply-To (the reply token's
    address), ``Re:`` the subject, In-Reply-To the mail's Message-ID, References the thread."""
    a = step.answer
    assert a is not None
    reply_to = parseaddr(mail.reply_to or "")[1]
    if not reply_to:
        raise ScenarioError(f"the mail of '{a.reply}' has no Reply-To")
    subject = mail.subject if mail.subject.lower().startswith("re:") else f"Re: {mail.subject}"
    subject = play.fill(a.subject) or subject
    msg = mail_from(play, step, actor, dmarc=a.dmarc, to=reply_to, subject=subject)
    msg["In-Reply-To"] = f"<{mail.message_id}>"
    msg["References"] = " ".join(filter(None, [mail.references, f"<{mail.message_id}>"]))
    msg.set_content(play.fill(a.text) or "")
    return msg
