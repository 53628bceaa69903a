"""Replies to the resident (issue #17): ``SendReply`` checked again and carried out, and the
delivery statuses the outbound service reports recorded in the history.

Carried out, a reply is three things in the command's transaction: ``ReplyRequested`` on the
party's timeline, the thread reference ``reply:<token>`` tied to the case (the resident's
answer to ``antwoord+<token>@…`` lands there), and the ``DeliverReply`` send request to the
outbound topic (key: reply id), all through the outbox."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.commands import fallback
from services.router.commands.context import CommandContext, Rejected
from services.router.context import RouterContext
from services.router.domain.identity import Holding
from services.router.domain.model import Case
from services.router.history import History
from services.router.store import open_store
from services.router.store.protocol import RouterStore
from shared.contracts import Channel, Trust
from shared.contracts.outbound import (
    RECIPIENT_KIND,
    REPLY_REF_PREFIX,
    DeliverReply,
    ReplyChannel,
    ReplyRequested,
    ReplyStatusChanged,
    ReplyStatusReported,
    SendReply,
    identifier_id,
    reply_token,
)
from shared.envelope import CloudEvent

log = logging.getLogger(__name__)

# E-mail threading: the resident's Message-IDs a reply refers to (a long thread is cut).
MAX_REFERENCES = 10
_VERIFIED = frozenset({Trust.VERIFIED, Trust.AUTHENTICATED})


async def send_reply(cmd: SendReply, x: CommandContext) -> None:
    if cmd.fallback_of is not None:
        # A fallback is the router's own decision on a status (fallback.py), never staff's.
        raise Rejected("een terugvalantwoord maakt de router zelf, niet een medewerker")
    if await x.store.reply_case(cmd.reply_id) is not None:
        raise Rejected("dit antwoord is al aangevraagd")
    if cmd.subject is not None and ("\r" in cmd.subject or "\n" in cmd.subject):
        # A line break in a subject would write headers of its own into the e-mail.
        raise Rejected("het onderwerp mag geen regeleinde bevatten")
    case = await _current_case(x, cmd.case_id)
    party_id = await x.store.survivor(case.party_id)
    recipient = await _recipient(x, case, party_id, cmd)
    await carry_out_reply(cmd, x, case, party_id, recipient)


async def opted_out(x: CommandContext, party_id: uuid.UUID, channel: ReplyChannel) -> bool:
    return channel.value in (await x.store.contact_preferences(party_id)).opted_out


async def carry_out_reply(
    cmd: SendReply, x: CommandContext, case: Case, party_id: uuid.UUID, recipient: Holding
) -> None:
    """Record the checked reply, tie its token to the case and ask the outbound service."""
    if await opted_out(x, party_id, cmd.channel):
        raise Rejected(f"de inwoner heeft zich afgemeld voor berichten via '{cmd.channel.value}'")
    token = reply_token(x.reply_token_key, cmd.reply_id)
    request = {"command": cmd.model_dump(mode="json"), "recipient_trust": recipient.trust.value}
    await x.store.insert_reply(
        cmd.reply_id,
        case_id=case.id,
        channel=cmd.channel.value,
        requested_at=x.now,
        request=request,
    )
    await x.store.insert_thread_refs({f"{REPLY_REF_PREFIX}{token}": case.id})
    await x.store.update_case(case.id, last_activity_at=x.now)
    x.history.record(
        await x.store.lock_party(party_id),
        ReplyRequested(
            reply_id=cmd.reply_id,
            case_id=case.id,
            party_id=party_id,
            identifier_id=cmd.identifier_id,
            channel=cmd.channel,
            recipient_trust=recipient.trust.value,
            subject=cmd.subject,
            text=cmd.text,
            template=cmd.template,
            attachments=cmd.attachments,
            notice_only=cmd.notice_only,
            by=cmd.by,
            at=x.now,
            fallback_of=cmd.fallback_of,
        ),
        aggregate="case",
    )
    threading: list[str] = []
    if cmd.channel == ReplyChannel.EMAIL:
        threading = await x.store.channel_message_ids(case.id, Channel.EMAIL.value, MAX_REFERENCES)
    x.history.record_unowned(
        cmd.reply_id,
        DeliverReply(
            reply_id=cmd.reply_id,
            case_id=case.id,
            case_number=case.number,
            party_id=party_id,
            channel=cmd.channel,
            address=recipient.value,
            subject=cmd.subject,
            text=cmd.text,
            attachments=cmd.attachments,
            in_reply_to=threading[0] if threading else None,
            references=threading,
            token=token,
            requested_at=x.now,
            fallback_of=cmd.fallback_of,
        ),
        aggregate="reply",
        topic=x.outbound_topic,
    )


async def _current_case(x: CommandContext, case_id: uuid.UUID) -> Case:
    """The case, or the case it was folded into since (its contacts and threads are there)."""
    if await x.store.case(case_id) is None:
        raise Rejected("onbekende zaak")
    case = await x.store.case(await x.store.final_case(case_id), lock=True)
    if case is None:
        raise Rejected("onbekende zaak")
    return case


async def _recipient(x: CommandContext, case: Case, party_id: uuid.UUID, cmd: SendReply) -> Holding:
    """The party's identifier the command names, checked against the channel, its trust and
    the case's confidentiality. Its id is computed with the party that holds it or with the
    survivor it was merged into (caseview shows a merged family's identifiers as one)."""
    family = (await x.store.families([party_id])).get(party_id, frozenset({party_id}))
    found = [
        h
        for member in sorted(family)
        for h in await x.store.identifiers_of(member)
        if cmd.identifier_id
        in (identifier_id(h.party_id, h.kind, h.value), identifier_id(party_id, h.kind, h.value))
    ]
    if not found:
        raise Rejected("de ontvanger is geen gegeven van de partij van deze zaak")
    recipient = max(found, key=lambda h: h.trust in _VERIFIED)
    wanted = RECIPIENT_KIND[cmd.channel]
    if recipient.kind != wanted:
        raise Rejected(
            f"kanaal '{cmd.channel.value}' verstuurt naar een gegeven van soort "
            f"'{wanted.value}', niet '{recipient.kind.value}'"
        )
    if recipient.trust == Trust.CLAIMED and not cmd.confirm_claimed:
        raise Rejected(
            "het adres is alleen door de inwoner opgegeven, niet geverifieerd: "
            "bevestig dat u ernaar wilt versturen"
        )
    if case.confidential and recipient.trust not in _VERIFIED and not cmd.notice_only:
        raise Rejected(
            "vertrouwelijke zaak: alleen een bericht zonder inhoud naar een niet-geverifieerd adres"
        )
    return recipient


async def handle_status(session: AsyncSession, event: CloudEvent, ctx: RouterContext) -> None:
    """Record one reported status in the session's transaction."""
    await record_status(await open_store(session), event, ctx)


async def record_status(
    store: RouterStore, event: CloudEvent, ctx: RouterContext, now: datetime | None = None
) -> None:
    """A status the outbound service reported, on the timeline of the party of the reply's
    case now (after a merge: the survivor). A status of a reply this router never asked
    for is logged by id and skipped: there is no party to record it for."""
    report = ReplyStatusReported.model_validate(event.data)
    case_id = await store.reply_case(report.reply_id)
    case = None if case_id is None else await store.case(case_id)
    if case is None:
        log.warning(
            "status of unknown reply %s skipped", report.reply_id, extra={"event_id": str(event.id)}
        )
        return
    party_id = await store.survivor(case.party_id)
    now = now or datetime.now(UTC)
    history = History(source=ctx.source, topic=ctx.timeline_topic, now=now)
    changed = ReplyStatusChanged(
        reply_id=report.reply_id,
        case_id=case.id,
        party_id=party_id,
        channel=report.channel,
        status=report.status,
        reason=report.reason,
        reference=report.reference,
        at=report.at,
    )
    history.record(await store.lock_party(party_id), changed, aggregate="case")
    # A bounce or an ended chat may ask for one more reply on another channel (fallback.py).
    await fallback.after(changed, CommandContext.of(store, ctx, history, now), carry_out_reply)
    await history.save(store)
