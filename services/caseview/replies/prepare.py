"""What a reply request becomes: checked against the read model, rendered, the ``SendReply``.

Every refusal is a problem document with a Dutch ``detail`` that names the field; the
router checks the command again (the read model may be behind) and a refusal there
reaches the sender as the command's status. Order: recipient and channel (named, or chosen:
choice.py), subject, the words (template, text), attachments, the claimed address; then the
confidential notice, which replaces the words and drops the attachments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.caseview.commands.table import Sender, command
from services.caseview.normalize import is_confidential_product
from services.caseview.orm import cases, parties, timeline_entries
from services.caseview.parties.merges import resolve
from services.caseview.replies.choice import Recipient, choose, refuse
from services.caseview.replies.models import ReplyRequest
from services.caseview.replies.templates import (
    NOTICE,
    Rendered,
    TemplateRenderError,
    Templates,
    dutch_date,
)
from services.caseview.web import settings
from shared.contracts import MessageRouted, Trust
from shared.contracts.inbound import AttachmentRef
from shared.contracts.outbound import ReplyChannel, SendReply

# Channels that carry files; an SMS or a chat line does not.
WITH_ATTACHMENTS = frozenset({ReplyChannel.EMAIL, ReplyChannel.LETTER, ReplyChannel.APP})
ANONYMOUS = "heer/mevrouw"


@dataclass(frozen=True)
class Prepared:
    recipient: Recipient
    rendered: Rendered | None  # None: free text without a template
    subject: str | None
    text: str
    attachments: list[AttachmentRef]
    notice_only: bool


async def prepare(sender: Sender, body: ReplyRequest) -> Prepared:
    session, case_id = sender.session, sender.key
    case = (await session.execute(select(cases).where(cases.c.id == case_id))).one()
    recipient = await choose(session, case.party_id, case_id, body)
    channel = recipient.channel
    if body.subject is not None and ("\r" in body.subject or "\n" in body.subject):
        raise refuse("subject", "line_break", "Het veld 'subject' (onderwerp) moet één regel zijn.")
    templates: Templates = sender.request.app.state.templates
    variables = await _variables(sender, case, body.text)
    rendered = _render(templates, body.template, case.product, channel, variables, body)
    attachments = await _attachments(sender, body, channel)
    if recipient.trust == Trust.CLAIMED and not body.confirm_claimed:
        raise refuse(
            "confirm_claimed",
            "claimed_address",
            "Dit adres heeft de inwoner alleen zelf opgegeven; de gemeente heeft het niet "
            "gecontroleerd. Weet u zeker dat het klopt? Stuur het verzoek dan opnieuw met "
            "'confirm_claimed': true.",
        )
    confidential = case.confidential or is_confidential_product(
        case.product, settings(sender.request).confidential_products
    )
    if confidential and recipient.trust not in (Trust.AUTHENTICATED, Trust.VERIFIED):
        notice = _render(templates, NOTICE, None, channel, variables, body)
        assert notice is not None
        return Prepared(recipient, notice, notice.subject, notice.text, [], notice_only=True)
    subject = body.subject
    if subject is None and rendered is not None:
        subject = rendered.subject
    text = rendered.text if rendered is not None else (body.text or "")
    return Prepared(recipient, rendered, subject, text, attachments, notice_only=False)


def send_reply(sender: Sender, body: ReplyRequest, reply_id: uuid.UUID, p: Prepared) -> SendReply:
    return command(
        SendReply,
        reply_id=reply_id,
        case_id=sender.key,
        identifier_id=p.recipient.identifier_id,
        channel=p.recipient.channel,
        subject=p.subject,
        text=p.text,
        template=None if p.rendered is None else p.rendered.template,
        attachments=p.attachments,
        confirm_claimed=body.confirm_claimed,
        notice_only=p.notice_only,
        by=sender.by(),
    )


async def _variables(sender: Sender, case: Any, text: str | None) -> dict[str, Any]:
    root = await resolve(sender.session, case.party_id)
    name = await sender.session.scalar(select(parties.c.display_name).where(parties.c.id == root))
    team_names: dict[str, str] = sender.request.app.state.team_names
    return {
        "case_number": case.number,
        "due_date": dutch_date(case.due_at),
        "team": team_names.get(case.owner_team, case.owner_team),
        "name": name or ANONYMOUS,
        "text": text or "",
    }


def _render(
    templates: Templates,
    name: str | None,
    product: str | None,
    channel: ReplyChannel,
    variables: dict[str, Any],
    body: ReplyRequest,
) -> Rendered | None:
    if name is None:
        if not body.text:
            raise refuse(
                "text", "missing", "Kies een sjabloon ('template') of schrijf een tekst ('text')."
            )
        return None
    template = templates.find(name, product, channel)
    if template is None:
        raise refuse(
            "template",
            "unknown_template",
            f"Het sjabloon '{name}' bestaat niet voor het kanaal '{channel.value}'. "
            f"Sjablonen: {', '.join(templates.names())}.",
        )
    if template.needs_text and not body.text and name != NOTICE:
        raise refuse(
            "text", "missing", f"Het sjabloon '{name}' heeft uw eigen tekst nodig ('text')."
        )
    try:
        return templates.render(template, variables)
    except TemplateRenderError as exc:
        raise refuse(
            "template",
            "template_error",
            f"Het sjabloon '{name}' kan niet worden gemaakt: {exc}",
        ) from exc


async def _attachments(
    sender: Sender, body: ReplyRequest, channel: ReplyChannel
) -> list[AttachmentRef]:
    if not body.attachments:
        return []
    if channel not in WITH_ATTACHMENTS:
        raise refuse(
            "attachments",
            "no_attachments",
            f"Via '{channel.value}' kunnen geen bijlagen worden verstuurd.",
        )
    t = timeline_entries
    on_case: dict[str, AttachmentRef] = {}
    for data in await sender.session.scalars(
        select(t.c.body).where(t.c.case_id == sender.key, t.c.type == MessageRouted.TYPE)
    ):
        for a in data.get("attachments") or ():
            ref = AttachmentRef.model_validate(a)
            on_case.setdefault(ref.sha256, ref)
    missing = [s for s in body.attachments if s not in on_case]
    if missing:
        raise refuse(
            "attachments",
            "unknown_attachment",
            f"{len(missing)} bijlage(n) horen niet bij een bericht van deze zaak. "
            "Kies bijlagen uit de berichten van de zaak.",
        )
    chosen = [on_case[s] for s in dict.fromkeys(body.attachments)]
    limit = settings(sender.request).reply_attachments_max_bytes
    if sum(a.size for a in chosen) > limit:
        raise refuse(
            "attachments",
            "too_large",
            f"De bijlagen zijn samen te groot: maximaal {limit // (1024 * 1024)} MB.",
        )
    return chosen
