"""Fallback of a reply that could not reach the resident (issue #17, docs/outbound.md#fallback).

When the router records a reply's status, the rules here may ask for one new reply on
another channel: an e-mail that bounced goes again as a letter; a chat reply whose session
had ended goes by e-mail, else by SMS. The new reply is like any other (``ReplyRequested``
and ``DeliverReply`` in the status's transaction) with its own id, derived from the
original's, and ``fallback_of`` naming it. Never to an address below the trust the original
went to, never to an address only claimed, never on an opted-out channel, at most one per
reply (a fallback does not fall back again). When no rule applies nothing is sent: the
status stays for staff to see.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from services.router.commands.context import CommandContext, Rejected
from services.router.domain.identity import Holding
from services.router.domain.model import Case
from shared.contracts import Trust
from shared.contracts.outbound import (
    RECIPIENT_KIND,
    SESSION_ENDED,
    ReplyChannel,
    ReplyStatus,
    ReplyStatusChanged,
    SendReply,
    identifier_id,
)

log = logging.getLogger(__name__)

FALLBACKS = Counter(
    "eenloket_router_reply_fallbacks_total", "Replies sent again on another channel", ["from", "to"]
)
# Namespace of fallback reply ids (uuid5 of the original's id): a status delivered twice
# finds the fallback already there.
FALLBACK_NAMESPACE = uuid.UUID("3c1b7e52-8d0a-4f6e-b2a9-5e4d3c2b1a09")
_RANK = {Trust.CLAIMED: 0, Trust.VERIFIED: 1, Trust.AUTHENTICATED: 2}
_WITH_SUBJECT = frozenset({ReplyChannel.EMAIL, ReplyChannel.LETTER, ReplyChannel.APP})
_WITH_ATTACHMENTS = _WITH_SUBJECT

Send = Callable[[SendReply, CommandContext, Case, uuid.UUID, Holding], Awaitable[None]]


def fallback_id(reply_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(FALLBACK_NAMESPACE, str(reply_id))


def next_channels(changed: ReplyStatusChanged) -> tuple[ReplyChannel, ...]:
    """The channels to try, in order, after this status (none: no rule applies)."""
    if changed.channel == ReplyChannel.EMAIL and changed.status == ReplyStatus.BOUNCED:
        return (ReplyChannel.LETTER,)
    if (
        changed.channel == ReplyChannel.CHAT
        and changed.status == ReplyStatus.FAILED
        and SESSION_ENDED in (changed.reason or "")
    ):
        return (ReplyChannel.EMAIL, ReplyChannel.SMS)
    return ()


async def after(changed: ReplyStatusChanged, x: CommandContext, send: Send) -> uuid.UUID | None:
    """Ask for the fallback of the reply ``changed`` is about, if a rule applies (its id)."""
    channels = next_channels(changed)
    if not channels:
        return None
    request = await x.store.reply_request(changed.reply_id)
    if request is None:
        log.info("reply %s has no stored request: no fallback", changed.reply_id)
        return None
    original = SendReply.model_validate(request["command"])
    new_id = fallback_id(changed.reply_id)
    if original.fallback_of is not None or await x.store.reply_case(new_id) is not None:
        return None  # at most one fallback per reply; a status delivered again adds none
    case = await x.store.case(await x.store.final_case(changed.case_id), lock=True)
    if case is None:
        return None
    party_id = await x.store.survivor(case.party_id)
    opted_out = (await x.store.contact_preferences(party_id)).opted_out
    needed = Trust(request["recipient_trust"])
    for channel in channels:
        if channel.value in opted_out:
            continue
        holding = await _address(x, party_id, channel, needed)
        if holding is None:
            continue
        cmd = SendReply(
            reply_id=new_id,
            case_id=case.id,
            identifier_id=identifier_id(holding.party_id, holding.kind, holding.value),
            channel=channel,
            subject=original.subject if channel in _WITH_SUBJECT else None,
            text=original.text,
            template=original.template,
            attachments=original.attachments if channel in _WITH_ATTACHMENTS else [],
            notice_only=original.notice_only,
            by=original.by,
            fallback_of=changed.reply_id,
        )
        try:
            await send(cmd, x, case, party_id, holding)
        except Rejected as rejected:
            log.warning("fallback of reply %s refused: %s", changed.reply_id, rejected.reason)
            return None
        FALLBACKS.labels(changed.channel.value, channel.value).inc()
        return new_id
    log.info("no fallback rule applies to reply %s", changed.reply_id)
    return None


async def _address(
    x: CommandContext, party_id: uuid.UUID, channel: ReplyChannel, needed: Trust
) -> Holding | None:
    """The party's (or its merged family's) strongest address for ``channel`` at ``needed``
    or above; an address only claimed never (nobody confirmed sending to it)."""
    family = (await x.store.families([party_id])).get(party_id, frozenset({party_id}))
    kind = RECIPIENT_KIND[channel]
    found = [
        h
        for member in sorted(family)
        for h in await x.store.identifiers_of(member)
        if h.kind == kind and h.trust != Trust.CLAIMED and _RANK[h.trust] >= _RANK[needed]
    ]
    return max(found, key=lambda h: (_RANK[h.trust], h.value), default=None)
