"""The facade's reads on caseview's read models: klantcontacten (``message.routed`` entries,
and the outgoing ones: ``reply.requested`` and ``contact.outbound-registered``; in the order of
caseview's own history: newest first), partijen and their identifiers and
addresses, and cases as internetaken; offset-paginated as Klantinteracties pages are.
Need-to-know per contact and per case from viewer.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from services.caseview.klantinteracties.mapping import (
    IDENTIFICATOREN,
    ContactRow,
    Identifier,
    PartyRow,
    TaskRow,
    owner_range,
)
from services.caseview.orm import (
    case_handovers,
    cases,
    parties,
    party_identifiers,
    replies,
    timeline_entries,
)
from services.caseview.parties.merges import locate
from services.caseview.viewer import CaseAccess, Viewer, access_columns
from shared.contracts import MessageRouted, OutboundContactRegistered
from shared.contracts.outbound import ReplyRequested

MESSAGE = MessageRouted.TYPE
REPLY = ReplyRequested.TYPE
OUTBOUND = OutboundContactRegistered.TYPE
OUTGOING = (REPLY, OUTBOUND)
# The klantcontact's uuid in an outgoing entry's body (the message id has a column).
OUTGOING_ID = {REPLY: "reply_id", OUTBOUND: "contact_id"}
# codeSoortObjectId -> Eenloket identifier kind (the inverse of mapping.IDENTIFICATOREN).
KIND_OF_SOORT = {soort: kind for kind, (_, soort, _) in IDENTIFICATOREN.items()}


@dataclass(frozen=True)
class ContactFilter:
    party_ids: tuple[uuid.UUID, ...] | None = None  # None: no party filter
    message_id: uuid.UUID | None = None  # an incoming contact
    outgoing_id: uuid.UUID | None = None  # an outgoing contact (reply or registered contact)
    staff: str | None = None  # outgoing contacts sent by this user
    message_prefix: uuid.UUID | None = None  # messages whose id starts as this one's (prefixed)
    owner_team: str | None = None  # the team the router gave the contact to
    with_attachments: bool = False
    channel: str | None = None
    case_id: uuid.UUID | None = None
    case_number: str | None = None
    at: datetime | None = None  # plaatsgevondenOp exactly
    since: datetime | None = None  # plaatsgevondenOp__gte
    until: datetime | None = None  # plaatsgevondenOp__lte
    with_case: bool = False  # only contacts about a case (onderwerpobjecten)
    nothing: bool = False  # a filter no contact can match (an unknown party, another register)

    def apply(self, query: Select[Any]) -> Select[Any]:
        t = timeline_entries
        incoming = and_(t.c.type == MESSAGE, t.c.message_id.is_not(None))
        query = query.where(or_(incoming, t.c.type.in_(OUTGOING)))
        if self.nothing:
            return query.where(false())
        if self.party_ids is not None:
            query = query.where(t.c.party_id.in_(self.party_ids))
        if self.message_id is not None:
            query = query.where(t.c.message_id == self.message_id)
        if self.outgoing_id is not None:
            query = query.where(or_(*(_outgoing(type_, self.outgoing_id) for type_ in OUTGOING)))
        if self.staff is not None:
            by = t.c.body[("by", "user")].as_string()
            query = query.where(t.c.type.in_(OUTGOING), by == self.staff)
        if self.message_prefix is not None:
            query = query.where(t.c.message_id.between(*owner_range(self.message_prefix)))
        if self.owner_team is not None:
            query = query.where(t.c.body["owner_team"].as_string() == self.owner_team)
        if self.with_attachments:
            # An empty list is "[]"; any attachment makes the document longer.
            query = query.where(
                t.c.type == MESSAGE, func.length(t.c.body["attachments"].as_string()) > 2
            )
        if self.channel is not None:
            query = query.where(t.c.channel == self.channel)
        if self.with_case:
            query = query.where(t.c.case_id.is_not(None))
        if self.case_id is not None:
            query = query.where(t.c.case_id == self.case_id)
        if self.case_number is not None:
            query = query.where(cases.c.number == self.case_number)
        if self.at is not None:
            query = query.where(t.c.occurred_at == self.at)
        if self.since is not None:
            query = query.where(t.c.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(t.c.occurred_at <= self.until)
        return query


def _outgoing(type_: str, id_: uuid.UUID) -> ColumnElement[bool]:
    t = timeline_entries
    return and_(t.c.type == type_, t.c.body[OUTGOING_ID[type_]].as_string() == str(id_))


async def of_contact(
    session: AsyncSession, id_: uuid.UUID | None, filters: ContactFilter | None = None
) -> ContactFilter:
    """``filters`` narrowed to the klantcontact ``id_``: an incoming message by its indexed id;
    else a reply, found within its party's history (the replies table names the party); else a
    registered outbound contact (no table of its own: the history's outgoing entries)."""
    filters = filters or ContactFilter()
    if id_ is None:
        return filters
    t = timeline_entries
    if await session.scalar(select(t.c.position).where(t.c.message_id == id_)) is not None:
        return replace(filters, message_id=id_)
    party = await session.scalar(select(replies.c.party_id).where(replies.c.reply_id == id_))
    if party is not None and filters.party_ids is None:
        filters = replace(filters, party_ids=(party,))
    return replace(filters, outgoing_id=id_)


async def party_members(session: AsyncSession, party_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The parties whose history a read of ``party_id`` holds (merges followed); none if unknown."""
    found = await locate(session, party_id)
    return tuple(found[1]) if found else ()


async def parties_with(
    session: AsyncSession, soort: str | None, value: str | None
) -> list[uuid.UUID]:
    """Parties holding an identifier of that codeSoortObjectId and/or objectId."""
    i = party_identifiers
    query = select(i.c.party_id).distinct()
    if soort is not None:
        kind = KIND_OF_SOORT.get(soort)
        if kind is None:
            return []
        query = query.where(i.c.kind == kind)
    else:
        query = query.where(i.c.kind.in_(list(IDENTIFICATOREN)))
    if value is not None:
        query = query.where(i.c.value == value)
    return list((await session.scalars(query)).all())


def _from() -> Any:
    t = timeline_entries
    return t.outerjoin(cases, cases.c.id == t.c.case_id).outerjoin(
        parties, parties.c.id == t.c.party_id
    )


async def contacts(
    session: AsyncSession, viewer: Viewer, filters: ContactFilter, *, offset: int, limit: int
) -> tuple[int, list[ContactRow]]:
    t = timeline_entries
    count = int(await session.scalar(filters.apply(select(func.count()).select_from(_from()))) or 0)
    query = (
        filters.apply(select(t, parties.c.display_name, *access_columns()).select_from(_from()))
        .order_by(t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    found = [_contact(viewer, r) for r in rows]
    sent = [c.message_id for c in found if c.kind == "reply"]
    if not sent:
        return count, found
    r = replies.c
    found_status = await session.execute(select(r.reply_id, r.status).where(r.reply_id.in_(sent)))
    status = {row.reply_id: row.status for row in found_status}
    return count, [
        replace(c, status=status.get(c.message_id)) if c.kind == "reply" else c for c in found
    ]


KINDS = {MESSAGE: "in", REPLY: "reply", OUTBOUND: "outbound"}


def _outgoing_ids() -> list[Any]:
    body = timeline_entries.c.body
    return [body[key].as_string().label(key) for key in OUTGOING_ID.values()]


def _contact_id(r: Row[Any]) -> uuid.UUID:
    """The klantcontact's uuid of a history row (with ``_outgoing_ids``' columns)."""
    if r.type == MESSAGE:
        return uuid.UUID(str(r.message_id))
    return uuid.UUID(getattr(r, OUTGOING_ID[r.type]))


def _contact(viewer: Viewer, r: Row[Any]) -> ContactRow:
    case = CaseAccess.of_joined(r, r.case_id) if r.access_owner_team is not None else None
    kind = KINDS[r.type]
    return ContactRow(
        kind=kind,
        message_id=r.message_id if kind == "in" else uuid.UUID(r.body[OUTGOING_ID[r.type]]),
        party_id=r.party_id,
        party_name=r.display_name,
        channel=r.channel,
        occurred_at=r.occurred_at,
        body=r.body,
        case_id=r.case_id,
        case_number=case.number if case else None,
        confidential=bool(case and viewer.is_confidential(case.confidential, case.product)),
        visible=case is None or viewer.sees(case),
    )


async def party_rows(
    session: AsyncSession, party_ids: list[uuid.UUID] | None, *, offset: int, limit: int
) -> tuple[int, list[PartyRow]]:
    """Parties (``None``: all), oldest first, each with its identifiers and its contacts."""
    p = parties
    query = select(p.c.id, p.c.display_name)
    if party_ids is not None:
        query = query.where(p.c.id.in_(party_ids))
    count = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = (
        await session.execute(query.order_by(p.c.created_at, p.c.id).offset(offset).limit(limit))
    ).all()
    ids = [r.id for r in rows]
    idents: dict[uuid.UUID, list[Identifier]] = {}
    messages: dict[uuid.UUID, list[uuid.UUID]] = {}
    if ids:
        i = party_identifiers
        for r in await session.execute(
            select(i).where(i.c.party_id.in_(ids)).order_by(i.c.kind, i.c.value)
        ):
            idents.setdefault(r.party_id, []).append(Identifier(r.kind, r.value, r.trust))
        t = timeline_entries
        found = ContactFilter(party_ids=tuple(ids)).apply(
            select(t.c.party_id, t.c.type, t.c.message_id, *_outgoing_ids())
        )
        for r in await session.execute(found.order_by(t.c.sort_at.desc(), t.c.sequence.desc())):
            messages.setdefault(r.party_id, []).append(_contact_id(r))
    return count, [
        PartyRow(r.id, r.display_name, idents.get(r.id, []), messages.get(r.id, [])) for r in rows
    ]


async def identifier_rows(
    session: AsyncSession,
    kinds: list[str],
    *,
    party_ids: tuple[uuid.UUID, ...] | None = None,
    prefix: uuid.UUID | None = None,
    value: str | None = None,
    contains: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[tuple[uuid.UUID, Identifier]]]:
    """Parties' identifiers of ``kinds`` (partij-identificatoren, digitale adressen), in the
    primary key's order; ``prefix``: only parties whose id starts as that ``prefixed`` id."""
    i = party_identifiers
    query = select(i).where(i.c.kind.in_(kinds))
    if party_ids is not None:
        query = query.where(i.c.party_id.in_(party_ids))
    if prefix is not None:
        query = query.where(i.c.party_id.between(*owner_range(prefix)))
    if value is not None:
        query = query.where(i.c.value == value)
    if contains is not None:
        query = query.where(func.lower(i.c.value).contains(contains.lower(), autoescape=True))
    count = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.execute(
        query.order_by(i.c.party_id, i.c.kind, i.c.value).offset(offset).limit(limit)
    )
    return count, [(r.party_id, Identifier(r.kind, r.value, r.trust)) for r in rows]


@dataclass(frozen=True)
class TaskFilter:
    case_id: uuid.UUID | None = None
    case_ids: tuple[uuid.UUID, ...] | None = None
    message_id: uuid.UUID | None = None  # the contact that opened the case
    is_open: bool | None = None
    team: str | None = None
    nothing: bool = False


async def tasks(
    session: AsyncSession, viewer: Viewer, f: TaskFilter, *, offset: int, limit: int
) -> tuple[int, list[TaskRow]]:
    """Cases (not merged into another) with the contact that opened them, newest first."""
    t, h, c = timeline_entries, case_handovers, cases
    first = (
        select(t.c.message_id)
        .where(t.c.case_id == c.c.id, t.c.type == MESSAGE, t.c.message_id.is_not(None))
        .order_by(t.c.sort_at, t.c.sequence)
        .limit(1)
        .scalar_subquery()
    )
    handed = select(func.max(h.c.at)).where(h.c.case_id == c.c.id).scalar_subquery()
    where: list[ColumnElement[bool]] = [
        c.c.merged_into.is_(None),
        first.is_not(None),
        false() if f.nothing else true(),
    ]
    if f.case_id is not None:
        where.append(c.c.id == f.case_id)
    if f.case_ids is not None:
        where.append(c.c.id.in_(f.case_ids))
    if f.message_id is not None:
        # The message's case first (message_id is unique), so no case but that one is looked at.
        case_of = select(t.c.case_id).where(t.c.message_id == f.message_id).scalar_subquery()
        where += [c.c.id == case_of, first == f.message_id]
    if f.is_open is not None:
        where.append(c.c.is_open.is_(f.is_open))
    if f.team is not None:
        where.append(c.c.owner_team == f.team)
    count = int(await session.scalar(select(func.count()).select_from(c).where(*where)) or 0)
    query = (
        select(
            c.c.id,
            c.c.party_id,
            c.c.is_open,
            c.c.opened_at,
            c.c.closed_at,
            first.label("first_message_id"),
            handed.label("handed_at"),
            *access_columns(),
        )
        .where(*where)
        .order_by(c.c.opened_at.desc(), c.c.id)
        .offset(offset)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return count, [_task(viewer, r) for r in rows]


def _task(viewer: Viewer, r: Row[Any]) -> TaskRow:
    case = CaseAccess.of_joined(r, r.id)
    return TaskRow(
        case_id=r.id,
        number=case.number,
        product=case.product,
        party_id=r.party_id,
        owner_team=case.owner_team,
        is_open=r.is_open,
        assigned_at=r.handed_at or r.opened_at,
        closed_at=r.closed_at,
        first_message_id=r.first_message_id,
        visible=viewer.sees(case),
    )
