"""Which channel and address a reply goes to (issue #17, docs/outbound.md#channel-choice).

Staff may name the recipient (``identifier_id``; the channel follows from its kind when not
named) or only a channel (the party's address for it). When they name neither, caseview
chooses, and says why (``chosen_because``):

1. ``last-message``: the channel of the resident's last message on the case, answered on its
   reply channel (e-mail → e-mail, phone → SMS, app → app, chat → chat, letter → letter, a
   web form → e-mail), to the party's address of that kind. A message does not carry the
   address it came from in the read model, so the address is the party's (or its merged
   family's) strongest of that kind, the most recently added first;
2. ``preferred-channel``: the party's preferred channel (``PUT …/contact-preferences``);
3. otherwise 422: "kies een kanaal en adres".

A channel the resident opted out of is never chosen, and refused when named (the router
refuses it too).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview import messages
from services.caseview.commands.table import invalid
from services.caseview.orm import party_identifiers, timeline_entries
from services.caseview.parties import preferences
from services.caseview.parties.merges import members, resolve
from services.caseview.replies.models import ChosenBecause, ReplyRequest
from shared.contracts import Channel, MessageRouted, Trust
from shared.contracts.outbound import RECIPIENT_KIND, ReplyChannel, identifier_id
from shared.http import ProblemError

# The channel a message on each inbound channel is answered on (a counter visit: none).
REPLY_CHANNEL: dict[Channel, ReplyChannel] = {
    Channel.EMAIL: ReplyChannel.EMAIL,
    Channel.WEB: ReplyChannel.EMAIL,  # a web form carries the resident's e-mail address
    Channel.PHONE: ReplyChannel.SMS,
    Channel.APP: ReplyChannel.APP,
    Channel.CHAT: ReplyChannel.CHAT,
    Channel.LETTER: ReplyChannel.LETTER,
}
_RANK = {Trust.AUTHENTICATED.value: 2, Trust.VERIFIED.value: 1, Trust.CLAIMED.value: 0}


@dataclass(frozen=True)
class Recipient:
    party_id: uuid.UUID
    kind: str
    trust: str
    identifier_id: uuid.UUID
    channel: ReplyChannel
    chosen_because: ChosenBecause


@dataclass(frozen=True)
class _Held:
    party_id: uuid.UUID
    kind: str
    value: str
    trust: str
    added_at: datetime

    @property
    def id(self) -> uuid.UUID:
        return identifier_id(self.party_id, self.kind, self.value)


def refuse(name: str, kind: str, detail: str) -> ProblemError:
    """A 422 about one body field, in Dutch, that names the field."""
    if f"'{name}'" not in detail:
        detail = f"Het veld {messages.field(name)}: {detail[0].lower()}{detail[1:]}"
    return invalid([{"loc": ("body", name), "msg": kind, "type": kind}], (), detail)


async def choose(
    session: AsyncSession, party_id: uuid.UUID, case_id: uuid.UUID, body: ReplyRequest
) -> Recipient:
    root = await resolve(session, party_id)
    held = await _identifiers(session, root)
    prefs = await preferences.of(session, root)
    if body.identifier_id is not None:
        found = next((h for h in held if h.id == body.identifier_id), None)
        if found is None:
            raise refuse(
                "identifier_id",
                "unknown_identifier",
                "Het veld 'identifier_id' (ontvanger) is geen adres van de inwoner van deze "
                "zaak. Kies een adres uit de gegevens van de inwoner.",
            )
        channel = body.channel or _channel_for(found.kind)
        if channel is None or RECIPIENT_KIND[channel].value != found.kind:
            named = "—" if channel is None else channel.value
            raise refuse(
                "channel",
                "channel_mismatch",
                f"Het kanaal '{named}' past niet bij dit adres "
                f"({messages.KINDS.get(found.kind, found.kind)}). Kies het kanaal "
                f"'{_channel_name(found.kind)}' of een ander adres.",
            )
        _allowed(channel, prefs)
        return _recipient(found, channel, "requested")
    if body.channel is not None:
        _allowed(body.channel, prefs)
        return _recipient(_address(held, body.channel, "channel"), body.channel, "requested")
    last = await _last_channel(session, case_id)
    if last is not None and last not in prefs.opted_out and _best(held, last) is not None:
        return _recipient(_address(held, last, "channel"), last, "last-message")
    if prefs.preferred_channel is not None and _best(held, prefs.preferred_channel) is not None:
        preferred = prefs.preferred_channel
        return _recipient(_address(held, preferred, "channel"), preferred, "preferred-channel")
    raise refuse(
        "channel",
        "no_default",
        "De inwoner heeft op deze zaak nog geen bericht gestuurd waarop we kunnen antwoorden "
        "en geen voorkeurskanaal met een adres: kies een kanaal en adres "
        "('channel' en 'identifier_id').",
    )


def _recipient(h: _Held, channel: ReplyChannel, because: ChosenBecause) -> Recipient:
    return Recipient(h.party_id, h.kind, h.trust, h.id, channel, because)


def _allowed(channel: ReplyChannel, prefs: preferences.Preferences) -> None:
    if channel in prefs.opted_out:
        raise refuse(
            "channel",
            "opted_out",
            f"De inwoner heeft zich afgemeld voor berichten via '{channel.value}'. "
            "Kies een ander kanaal.",
        )


def _best(held: list[_Held], channel: ReplyChannel) -> _Held | None:
    kind = RECIPIENT_KIND[channel].value
    of_kind = [h for h in held if h.kind == kind]
    return max(of_kind, key=lambda h: (_RANK.get(h.trust, 0), h.added_at, h.value), default=None)


def _address(held: list[_Held], channel: ReplyChannel, field: str) -> _Held:
    found = _best(held, channel)
    if found is None:
        raise refuse(
            field,
            "no_address",
            f"De inwoner heeft geen adres voor het kanaal '{channel.value}'. Kies een ander "
            "kanaal of een adres ('identifier_id').",
        )
    return found


def _channel_for(kind: str) -> ReplyChannel | None:
    return next((c for c, k in RECIPIENT_KIND.items() if k.value == kind), None)


def _channel_name(kind: str) -> str:
    channel = _channel_for(kind)
    return "—" if channel is None else channel.value


async def _identifiers(session: AsyncSession, root: uuid.UUID) -> list[_Held]:
    pi = party_identifiers
    ids = await members(session, root)
    rows = await session.execute(
        select(pi.c.party_id, pi.c.kind, pi.c.value, pi.c.trust, pi.c.added_at).where(
            pi.c.party_id.in_(ids)
        )
    )
    return [_Held(r.party_id, r.kind, r.value, r.trust, r.added_at) for r in rows]


async def _last_channel(session: AsyncSession, case_id: uuid.UUID) -> ReplyChannel | None:
    """The reply channel of the resident's last message on the case with one (a counter
    visit has none: the one before it counts)."""
    t = timeline_entries
    rows = await session.execute(
        select(t.c.channel)
        .where(t.c.case_id == case_id, t.c.type == MessageRouted.TYPE)
        .order_by(t.c.sort_at.desc(), t.c.sequence.desc())
    )
    for (channel,) in rows:
        reply = REPLY_CHANNEL.get(Channel(channel)) if channel else None
        if reply is not None:
            return reply
    return None
