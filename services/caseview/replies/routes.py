"""The reply routes: ask for a reply, preview it, read its state.

A reply is a staff command (``SendReply`` on ``omni.commands.v1``, key: the case id) sent
the one way every command is (commands/routes.py ``send_command``: noted, published, 202),
with the table's authorisation (``case_team``: the owning team, a participant, the
contact centre). It has its own route rather than a row of ``commands/table.py`` because
it answers with the reply's id and whether only a notice goes out, and has a preview twin
that renders without publishing.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from services.caseview.access_log.audited import Audited, Need, NotFound, Target
from services.caseview.auth import ACT_ON_CASES, READ_HISTORY
from services.caseview.commands import publish
from services.caseview.commands.models import COMMAND_RESPONSES, IdempotencyKey
from services.caseview.commands.routes import send_command
from services.caseview.commands.table import Sender, case_team
from services.caseview.orm import replies, reply_statuses
from services.caseview.replies.models import (
    ReplyAccepted,
    ReplyPreview,
    ReplyRequest,
    ReplyStatusOut,
    ReplyTemplateOut,
    ReplyView,
)
from services.caseview.replies.prepare import Prepared, prepare, send_reply
from services.caseview.replies.templates import Templates
from services.caseview.viewer import case_access
from services.caseview.web import PrincipalDep, SessionDep, responses, viewer
from shared.http import ProblemError

router = APIRouter(prefix="/v1")
# Namespace of reply ids (uuid5 of the command id): a retry with the same Idempotency-Key
# is the same command and so the same reply.
REPLY_NAMESPACE = uuid.UUID("0f8a4c2e-3b7d-4e21-9c5a-7d6e1f2a3b4c")
_authorize = case_team(owner_only=False)


async def _prepared(
    request: Request,
    case_id: uuid.UUID,
    body: ReplyRequest,
    principal: PrincipalDep,
    session: SessionDep,
) -> tuple[Sender, Prepared]:
    sender = await _authorize(request, session, principal, case_id)
    # A confidential case's contents are for its owning and participating teams only.
    if not viewer(request, principal).sees(sender.owned_case):
        raise ProblemError(
            403,
            "Not your case",
            "Deze zaak is vertrouwelijk: alleen het eigen team en deelnemende teams antwoorden.",
        )
    return sender, await prepare(sender, body)


@router.post(
    "/cases/{case_id}/replies",
    tags=["replies"],
    operation_id="sendReply",
    status_code=202,
    response_model=ReplyAccepted,
    responses={**COMMAND_RESPONSES, **responses(422)},
    summary="Answer the resident: a template or free text to one of the party's addresses",
)
async def send(
    request: Request,
    response: Response,
    case_id: uuid.UUID,
    body: ReplyRequest,
    principal: PrincipalDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> ReplyAccepted:
    sender, prepared = await _prepared(request, case_id, body, principal, session)
    command_id = publish.command_id(principal, idempotency_key)
    reply_id = uuid.uuid5(REPLY_NAMESPACE, str(command_id))
    await send_command(sender, response, send_reply(sender, body, reply_id, prepared), command_id)
    response.headers["Location"] = f"/v1/cases/{case_id}/replies/{reply_id}"
    r = prepared.recipient
    return ReplyAccepted(
        reply_id=reply_id,
        command_id=command_id,
        notice_only=prepared.notice_only,
        channel=r.channel,
        identifier_id=r.identifier_id,
        chosen_because=r.chosen_because,
    )


@router.post(
    "/cases/{case_id}/replies/preview",
    tags=["replies"],
    operation_id="previewReply",
    response_model=ReplyPreview,
    responses=responses(404, 422),
    summary="The reply as it would be sent (same checks), without sending it",
)
async def preview(
    request: Request,
    case_id: uuid.UUID,
    body: ReplyRequest,
    principal: PrincipalDep,
    session: SessionDep,
) -> ReplyPreview:
    _, p = await _prepared(request, case_id, body, principal, session)
    return ReplyPreview(
        channel=p.recipient.channel,
        identifier_id=p.recipient.identifier_id,
        chosen_because=p.recipient.chosen_because,
        template=None if p.rendered is None else p.rendered.template,
        subject=p.subject,
        text=p.text,
        notice_only=p.notice_only,
    )


@router.get(
    "/cases/{case_id}/replies/{reply_id}",
    tags=["replies"],
    operation_id="getReply",
    response_model=ReplyView,
    responses=responses(404),
    summary="A reply: what was sent to whom, its current status and every status it had",
)
async def get_reply(
    request: Request, case_id: uuid.UUID, reply_id: uuid.UUID, read: Audited
) -> ReplyView:
    async def find() -> ReplyView | None:
        session = read.session
        row = (
            await session.execute(
                select(replies).where(replies.c.reply_id == reply_id, replies.c.case_id == case_id)
            )
        ).first()
        case = (await case_access(session, [case_id])).get(case_id)
        # Need-to-know: a confidential case's reply is not there for other teams.
        if row is None or case is None or not viewer(request, read.principal).sees(case):
            return None
        history = [
            ReplyStatusOut(status=s.status, reason=s.reason, at=s.at)
            for s in await session.execute(
                select(reply_statuses)
                .where(reply_statuses.c.reply_id == reply_id)
                .order_by(reply_statuses.c.at, reply_statuses.c.event_id)
            )
        ]
        return ReplyView(
            reply_id=row.reply_id,
            case_id=row.case_id,
            party_id=row.party_id,
            identifier_id=row.identifier_id,
            channel=row.channel,
            recipient_trust=row.recipient_trust,
            template=row.template,
            subject=row.subject,
            text=row.text,
            notice_only=row.notice_only,
            attachments=[a["sha256"] for a in row.attachments],
            requested_by=row.requested_by,
            requested_team=row.requested_team,
            requested_at=row.requested_at,
            status=row.status,
            status_at=row.status_at,
            history=history,
            fallback_of=row.fallback_of,
            fallbacks=list(
                await session.scalars(
                    select(replies.c.reply_id)
                    .where(replies.c.fallback_of == reply_id)
                    .order_by(replies.c.requested_at)
                )
            ),
        )

    return await read(
        Need(READ_HISTORY | ACT_ON_CASES),
        Target(case_id=case_id),
        find,
        not_found=NotFound("Reply not found", "Antwoord niet gevonden (of nog niet verwerkt)."),
        logged=lambda view: [Target(party_id=view.party_id, case_id=case_id, detail="reply")],
    )


@router.get(
    "/reply-templates",
    tags=["replies"],
    operation_id="listReplyTemplates",
    response_model=list[ReplyTemplateOut],
    responses=responses(403),
    summary="The reply templates 'template' accepts, per product and channel (the composer's list)",
)
async def list_templates(request: Request, principal: PrincipalDep) -> list[ReplyTemplateOut]:
    """No personal data (the templates file), so no access-log entry; only for those who
    may reply."""
    if not principal.has_any(ACT_ON_CASES):
        raise ProblemError(403, "Not allowed", "Uw rol staat geen antwoorden aan inwoners toe.")
    templates: Templates = request.app.state.templates
    return [
        ReplyTemplateOut(
            name=t.name,
            product=t.product,
            channel=t.channel,
            subject=t.subject,
            needs_text=t.needs_text,
        )
        for t in templates.spec.templates
    ]
