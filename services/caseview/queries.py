"""Read queries behind the caseview API.

Every function takes the ``Viewer`` it answers for: need-to-know (design §9) is
applied here, on the rows, so no route can forget it. Merged parties are
resolved here too: ``merged_into`` pointers are followed at read time.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, and_, exists, func, literal, or_, select, true, tuple_
from sqlalchemy import case as sa_case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from services.caseview.normalize import fold, identifier, is_confidential_product, like_prefix
from services.caseview.orm import (
    NO_DUE_DATE,
    access_log,
    case_handovers,
    case_participants,
    cases,
    link_suggestions,
    parties,
    party_identifiers,
    party_merges,
    party_name_keys,
    timeline_entries,
)
from shared.contracts import (
    IdentifierKind,
    MessageRouted,
    OutboundContactRegistered,
)

MAX_MERGE_DEPTH = 16
MAX_BIGINT = 2**63 - 1


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC; ValueError for naive ones or ones UTC cannot hold."""
    if value.tzinfo is None:
        raise ValueError("a time zone is required")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range") from exc


CONTACT_TYPES = (MessageRouted.TYPE, OutboundContactRegistered.TYPE)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- who is looking ---------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The caller's teams and the configured confidential products: what need-to-know needs."""

    teams: frozenset[str]
    confidential_terms: tuple[str, ...] = ()

    def is_confidential(self, confidential: bool, product: str | None) -> bool:
        return confidential or is_confidential_product(product, self.confidential_terms)

    def sees(self, case: CaseAccess) -> bool:
        if not self.is_confidential(case.confidential, case.product):
            return True
        return bool(self.teams & ({case.owner_team} | case.participants))


@dataclass(frozen=True)
class CaseAccess:
    id: uuid.UUID
    number: str
    product: str | None
    confidential: bool
    owner_team: str
    participants: frozenset[str] = field(default_factory=frozenset)


async def case_access(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CaseAccess]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    p = case_participants
    # The participating teams in the same round trip (team names hold no comma).
    teams = (
        select(func.aggregate_strings(p.c.team, ","))
        .where(p.c.case_id == cases.c.id)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                cases.c.id,
                cases.c.number,
                cases.c.product,
                cases.c.confidential,
                cases.c.owner_team,
                teams.label("teams"),
            ).where(cases.c.id.in_(wanted))
        )
    ).all()
    return {
        r.id: CaseAccess(
            id=r.id,
            number=r.number,
            product=r.product,
            confidential=r.confidential,
            owner_team=r.owner_team,
            participants=frozenset(r.teams.split(",") if r.teams else ()),
        )
        for r in rows
    }


async def _participants(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    p = case_participants
    rows = await session.execute(
        select(p.c.case_id, p.c.team).where(p.c.case_id.in_(ids)).order_by(p.c.team)
    )
    out: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        out.setdefault(r.case_id, []).append(r.team)
    return out


# --- cursors ---------------------------------------------------------------------------


def _encode(kind: str, payload: list[Any]) -> str:
    raw = orjson.dumps([kind, *payload])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(doc, list) or not doc or doc[0] != kind:
        raise ValueError("not a cursor of this list")
    return doc[1:]


@dataclass(frozen=True, order=True)
class TimelineKey:
    """A position in a history: (sort_at, party_id, sequence), newest first."""

    sort_at: datetime
    party_id: uuid.UUID
    sequence: int

    def encode(self) -> str:
        return _encode("t", [self.sort_at.isoformat(), str(self.party_id), self.sequence])

    @classmethod
    def decode(cls, cursor: str) -> TimelineKey:
        try:
            at, party, seq = _decode(cursor, "t")
            key = cls(utc(datetime.fromisoformat(at)), uuid.UUID(party), int(seq))
        except Exception as exc:  # whatever a forged cursor holds, it is a 400
            raise ValueError("not a timeline cursor") from exc
        if not 0 <= key.sequence <= MAX_BIGINT:
            raise ValueError("not a timeline cursor")
        return key


@dataclass(frozen=True)
class QueueKey:
    at: datetime
    case_id: uuid.UUID

    def encode(self, sort: str) -> str:
        return _encode("q" + sort, [self.at.isoformat(), str(self.case_id)])

    @classmethod
    def decode(cls, cursor: str, sort: str) -> QueueKey:
        try:
            at, case_id = _decode(cursor, "q" + sort)
            return cls(utc(datetime.fromisoformat(at)), uuid.UUID(case_id))
        except Exception as exc:  # whatever a forged cursor holds, it is a 400
            raise ValueError("not a queue cursor") from exc


# --- response models -------------------------------------------------------------------


class Count(_Out):
    """A count that stops at a cap, so counting stays fast on any history."""

    value: int = Field(ge=0)
    capped: bool = Field(description="True when there are more than 'value' (the cap).")


class TimelineEntry(_Out):
    event_id: uuid.UUID
    type: str
    party_id: uuid.UUID
    sequence: int
    occurred_at: datetime
    case_id: uuid.UUID | None
    message_id: uuid.UUID | None
    channel: str | None
    redacted: bool = Field(
        default=False,
        description="Need-to-know: a confidential case of another team. 'data' then only "
        "says which case and who owns it.",
    )
    data: dict[str, Any]


class TimelinePage(_Out):
    party_id: uuid.UUID
    items: list[TimelineEntry]
    next_cursor: str | None
    total: Count


class ContactLocation(_Out):
    message_id: uuid.UUID
    party_id: uuid.UUID
    case_id: uuid.UUID | None
    event_id: uuid.UUID


class IdentifierOut(_Out):
    kind: str
    value: str
    trust: str
    evidence: str | None = Field(
        default=None,
        description="Which evidence gave the rung: 'digid', 'eherkenning', 'id-document', "
        "'dmarc', 'dkim', 'network-caller-id', 'crm-import', 'staff-confirmed'; null: stated "
        "by the sender (claimed).",
    )
    party_id: uuid.UUID


class SuggestionOut(_Out):
    suggestion_id: uuid.UUID
    direction: Literal["outgoing", "incoming"] = Field(
        description="outgoing: this party's sender claimed another party's identifier; "
        "incoming: another sender claimed one of this party's identifiers."
    )
    party_id: uuid.UUID
    suggested_party_id: uuid.UUID
    identifier_kind: str | None
    identifier_trust: str | None
    message_id: uuid.UUID | None
    suggested_at: datetime | None


class MergeOut(_Out):
    merge_id: uuid.UUID
    party_id: uuid.UUID
    merged_party_id: uuid.UUID
    active: bool
    merged_at: datetime | None
    merged_by: str | None
    merge_reason: str | None
    unmerged_at: datetime | None
    unmerged_by: str | None
    unmerge_reason: str | None


class CaseSummary(_Out):
    id: uuid.UUID
    number: str
    party_id: uuid.UUID
    product: str | None
    status: str | None
    owner_team: str
    participants: list[str]
    confidential: bool
    redacted: bool
    opened_at: datetime
    due_at: datetime | None
    overdue: bool
    closed_at: datetime | None
    result: str | None
    handover_count: int
    last_activity_at: datetime


class PartyView(_Out):
    id: uuid.UUID = Field(description="The party asked for.")
    party_id: uuid.UUID = Field(description="The party whose history this is (after merges).")
    merged_into: uuid.UUID | None
    members: list[uuid.UUID] = Field(description="Parties merged into this one (and itself).")
    provisional: bool
    display_name: str | None
    created_at: datetime
    identifiers: list[IdentifierOut]
    suggested_links: list[SuggestionOut] = Field(description="Awaiting a person's decision.")
    merges: list[MergeOut]
    open_cases: list[CaseSummary]
    closed_cases: list[CaseSummary]


class Handover(_Out):
    from_team: str
    to_team: str
    by: str
    by_team: str | None
    reason: str
    at: datetime
    handover_count: int


class RoutingExplanationOut(_Out):
    message_id: uuid.UUID
    at: datetime
    explanation: dict[str, Any]
    flags: list[dict[str, Any]]


class ContactOut(_Out):
    event_id: uuid.UUID
    direction: Literal["inbound", "outbound"]
    channel: str | None
    occurred_at: datetime
    message_id: uuid.UUID | None
    subject: str | None = Field(description="Subject or summary; null when redacted.")
    text: str | None = Field(description="Message text; null when redacted.")


class CaseView(CaseSummary):
    handovers: list[Handover]
    routing_explanations: list[RoutingExplanationOut]
    contacts: list[ContactOut]
    contacts_total: Count


class QueueItem(CaseSummary):
    role: Literal["owner", "participant"]


class QueueSort(StrEnum):
    AGE = "age"  # oldest first
    DUE = "due"  # earliest due date first; cases without a norm last


class QueuePage(_Out):
    team: str
    sort: QueueSort
    items: list[QueueItem]
    next_cursor: str | None
    total: Count


class PartyHit(_Out):
    party_id: uuid.UUID = Field(description="The party to open (after merges).")
    matched_party_id: uuid.UUID
    display_name: str | None
    provisional: bool
    trust: str | None = Field(
        default=None,
        description="For a search by identifier: the rung at which this party holds it "
        "('authenticated' first, then 'verified', then 'claimed': merely stated by a sender).",
    )
    evidence: str | None = None


class PartyHits(_Out):
    items: list[PartyHit]
    truncated: bool


class AccessLogEntry(_Out):
    id: int
    at: datetime
    user: str
    teams: list[str]
    roles: list[str]
    endpoint: str
    party_id: uuid.UUID | None
    case_id: uuid.UUID | None
    team: str | None
    purpose: str | None
    outcome: str
    detail: str | None


class AccessLogPage(_Out):
    items: list[AccessLogEntry]
    next_cursor: str | None


# --- merges ----------------------------------------------------------------------------


def _active_merge() -> ColumnElement[bool]:
    m = party_merges
    return and_(m.c.merged_at.is_not(None), m.c.unmerged_at.is_(None))


async def party_exists(session: AsyncSession, party_id: uuid.UUID) -> bool:
    return await session.scalar(select(parties.c.id).where(parties.c.id == party_id)) is not None


async def resolve(session: AsyncSession, party_id: uuid.UUID) -> uuid.UUID:
    """Follow active merges to the surviving party (the latest merge wins if several)."""
    m = party_merges
    seen = {party_id}
    current = party_id
    for _ in range(MAX_MERGE_DEPTH):
        target = await session.scalar(
            select(m.c.party_id)
            .where(m.c.merged_party_id == current, _active_merge())
            .order_by(m.c.merged_at.desc(), m.c.merge_id.desc())
            .limit(1)
        )
        if target is None or target in seen:
            break
        seen.add(target)
        current = target
    return current


async def locate(
    session: AsyncSession, requested: uuid.UUID
) -> tuple[uuid.UUID, list[uuid.UUID]] | None:
    """The party a read of ``requested`` shows (``resolve``) and the parties whose history it
    holds (``members``); ``None`` if there is no such party.

    Most parties were never merged: one query tells, instead of three round trips."""
    m = party_merges
    row = (
        await session.execute(
            select(
                exists().where(m.c.merged_party_id == parties.c.id, _active_merge()),
                exists().where(m.c.party_id == parties.c.id, _active_merge()),
            ).where(parties.c.id == requested)
        )
    ).first()
    if row is not None and not row[0] and not row[1]:
        return requested, [requested]
    root = await resolve(session, requested)
    if not await party_exists(session, root):
        return None
    return root, await members(session, root)


async def members(session: AsyncSession, root: uuid.UUID) -> list[uuid.UUID]:
    """The root and every party merged into it (transitively), while merged."""
    m = party_merges
    found = [root]
    frontier = [root]
    for _ in range(MAX_MERGE_DEPTH):
        if not frontier:
            break
        rows = await session.scalars(
            select(m.c.merged_party_id).where(m.c.party_id.in_(frontier), _active_merge())
        )
        frontier = [p for p in rows.all() if p not in found]
        # A party merged into two survivors belongs to the one resolve() picks.
        frontier = [p for p in frontier if await resolve(session, p) == root]
        found.extend(frontier)
    return sorted(found, key=lambda p: (p != root, p))


# --- timeline --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineFilter:
    channels: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    case_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive, on occurred_at
    until: datetime | None = None  # exclusive

    def apply(self, query: Select[Any]) -> Select[Any]:
        t = timeline_entries
        if self.channels:
            query = query.where(t.c.channel.in_(self.channels))
        if self.types:
            query = query.where(t.c.type.in_(self.types))
        if self.case_id is not None:
            query = query.where(t.c.case_id == self.case_id)
        if self.since is not None:
            query = query.where(t.c.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(t.c.occurred_at < self.until)
        return query


def _after(party_id: uuid.UUID, before: TimelineKey) -> ColumnElement[bool]:
    """Rows of one party that come after ``before`` in newest-first order, index-friendly:
    with ``party_id`` fixed, the condition is a range on (sort_at, sequence)."""
    t = timeline_entries
    if party_id < before.party_id:
        return t.c.sort_at <= before.sort_at
    if party_id == before.party_id:
        return tuple_(t.c.sort_at, t.c.sequence) < tuple_(
            literal(before.sort_at, t.c.sort_at.type), literal(before.sequence)
        )
    return t.c.sort_at < before.sort_at


async def timeline(
    session: AsyncSession,
    viewer: Viewer,
    party_ids: Sequence[uuid.UUID],
    *,
    root: uuid.UUID,
    limit: int,
    before: TimelineKey | None,
    filters: TimelineFilter,
    count_cap: int,
) -> TimelinePage:
    """Newest first, keyset-paginated. One index range scan per merged party, merged here:
    a party's first page reads ``limit + 1`` rows whatever the size of its history."""
    t = timeline_entries
    rows: list[Row[Any]] = []
    for party_id in party_ids:
        # Each entry's case (what need-to-know decides on) in the same round trip.
        query = (
            select(t, *_case_access_columns())
            .select_from(t.outerjoin(cases, cases.c.id == t.c.case_id))
            .where(t.c.party_id == party_id)
        )
        if before is not None:
            query = query.where(_after(party_id, before))
        query = filters.apply(query).order_by(t.c.sort_at.desc(), t.c.sequence.desc())
        rows.extend((await session.execute(query.limit(limit + 1))).all())
    rows.sort(key=_row_key, reverse=True)
    page = rows[:limit]
    more = len(rows) > limit
    total = await _capped_count(
        session, filters.apply(select(literal(1)).where(t.c.party_id.in_(party_ids))), count_cap
    )
    return TimelinePage(
        party_id=root,
        items=await _entries(session, viewer, page),
        next_cursor=_row_key(page[-1]).encode() if more and page else None,
        total=total,
    )


async def case_timeline(
    session: AsyncSession,
    viewer: Viewer,
    case_id: uuid.UUID,
    party_id: uuid.UUID,
    *,
    limit: int,
    before: TimelineKey | None,
    filters: TimelineFilter,
    count_cap: int,
) -> TimelinePage:
    t = timeline_entries
    query = filters.apply(select(t).where(t.c.case_id == case_id))
    key = tuple_(t.c.sort_at, t.c.party_id, t.c.sequence)
    if before is not None:
        query = query.where(
            key
            < tuple_(
                literal(before.sort_at, t.c.sort_at.type),
                literal(before.party_id, t.c.party_id.type),
                literal(before.sequence),
            )
        )
    query = query.order_by(t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc())
    rows = list((await session.execute(query.limit(limit + 1))).all())
    page = rows[:limit]
    total = await _capped_count(
        session, filters.apply(select(literal(1)).where(t.c.case_id == case_id)), count_cap
    )
    return TimelinePage(
        party_id=party_id,
        items=await _entries(session, viewer, page),
        next_cursor=_row_key(page[-1]).encode() if len(rows) > limit and page else None,
        total=total,
    )


def _row_key(row: Row[Any]) -> TimelineKey:
    return TimelineKey(row.sort_at, row.party_id, int(row.sequence))


async def _capped_count(session: AsyncSession, query: Select[Any], cap: int) -> Count:
    n = int(
        await session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0
    )
    return Count(value=min(n, cap), capped=n > cap)


def _case_access_columns() -> list[Any]:
    """The ``CaseAccess`` of a joined ``cases`` row, under names of their own."""
    p = case_participants
    teams = (
        select(func.aggregate_strings(p.c.team, ","))
        .where(p.c.case_id == cases.c.id)
        .scalar_subquery()
    )
    return [
        cases.c.number.label("access_number"),
        cases.c.product.label("access_product"),
        cases.c.confidential.label("access_confidential"),
        cases.c.owner_team.label("access_owner_team"),
        teams.label("access_teams"),
    ]


async def _entries(
    session: AsyncSession, viewer: Viewer, rows: Sequence[Row[Any]]
) -> list[TimelineEntry]:
    if rows and "access_owner_team" in rows[0]._fields:  # joined (``_case_access_columns``)
        access = {
            r.case_id: CaseAccess(
                id=r.case_id,
                number=r.access_number,
                product=r.access_product,
                confidential=r.access_confidential,
                owner_team=r.access_owner_team,
                participants=frozenset(r.access_teams.split(",") if r.access_teams else ()),
            )
            for r in rows
            if r.case_id is not None and r.access_owner_team is not None
        }
    else:
        access = await case_access(session, (r.case_id for r in rows if r.case_id is not None))
    return [_entry(viewer, r, access.get(r.case_id) if r.case_id else None) for r in rows]


def _entry(viewer: Viewer, r: Row[Any], case: CaseAccess | None) -> TimelineEntry:
    data: dict[str, Any] = r.body
    redacted = case is not None and not viewer.sees(case)
    if redacted:
        assert case is not None
        # That a contact happened, when, on which channel, and who owns the case: no contents.
        data = {"case_number": case.number, "owner_team": case.owner_team}
    return TimelineEntry(
        event_id=r.event_id,
        type=r.type,
        party_id=r.party_id,
        sequence=int(r.sequence),
        occurred_at=r.occurred_at,
        case_id=r.case_id,
        message_id=r.message_id,
        channel=r.channel,
        redacted=redacted,
        data=data,
    )


# --- parties ---------------------------------------------------------------------------


async def party_view(
    session: AsyncSession, viewer: Viewer, requested: uuid.UUID, *, now: datetime
) -> PartyView | None:
    root = await resolve(session, requested)
    row = (await session.execute(select(parties).where(parties.c.id == root))).first()
    if row is None:
        return None
    ids = await members(session, root)
    pi = party_identifiers
    identifiers = [
        IdentifierOut(
            kind=r.kind, value=r.value, trust=r.trust, evidence=r.evidence, party_id=r.party_id
        )
        for r in await session.execute(
            select(pi).where(pi.c.party_id.in_(ids)).order_by(pi.c.kind, pi.c.value, pi.c.party_id)
        )
    ]
    s = link_suggestions
    pending = await session.execute(
        select(s)
        .where(
            or_(s.c.party_id.in_(ids), s.c.suggested_party_id.in_(ids)),
            s.c.decision.is_(None),
            s.c.suggested_at.is_not(None),
        )
        .order_by(s.c.suggested_at, s.c.suggestion_id)
    )
    suggestions = [
        SuggestionOut(
            suggestion_id=r.suggestion_id,
            direction="outgoing" if r.party_id in ids else "incoming",
            party_id=r.party_id,
            suggested_party_id=r.suggested_party_id,
            identifier_kind=r.identifier_kind,
            identifier_trust=r.identifier_trust,
            message_id=r.message_id,
            suggested_at=r.suggested_at,
        )
        for r in pending
    ]
    m = party_merges
    merges = [
        MergeOut(
            merge_id=r.merge_id,
            party_id=r.party_id,
            merged_party_id=r.merged_party_id,
            active=r.merged_at is not None and r.unmerged_at is None,
            merged_at=r.merged_at,
            merged_by=r.merged_by,
            merge_reason=r.merge_reason,
            unmerged_at=r.unmerged_at,
            unmerged_by=r.unmerged_by,
            unmerge_reason=r.unmerge_reason,
        )
        for r in await session.execute(
            select(m)
            .where(or_(m.c.party_id.in_(ids), m.c.merged_party_id.in_(ids)))
            .order_by(m.c.merged_at, m.c.merge_id)
        )
    ]
    summaries = await case_summaries(
        session,
        viewer,
        select(cases)
        .where(cases.c.party_id.in_(ids), cases.c.merged_into.is_(None))
        .order_by(cases.c.opened_at.desc()),
        now=now,
    )
    return PartyView(
        id=requested,
        party_id=root,
        merged_into=root if root != requested else None,
        members=ids,
        provisional=row.provisional,
        display_name=row.display_name,
        created_at=row.created_at,
        identifiers=identifiers,
        suggested_links=suggestions,
        merges=merges,
        open_cases=[c for c in summaries if c.closed_at is None],
        closed_cases=[c for c in summaries if c.closed_at is not None],
    )


SearchKind = Literal["bsn", "kvk", "email", "phone", "case_number", "name"]


async def find_parties(
    session: AsyncSession, kind: SearchKind, value: str, *, limit: int
) -> PartyHits:
    value = value.strip()
    matched: list[uuid.UUID]
    rungs: dict[uuid.UUID, tuple[str, str | None]] = {}  # identifier searches: who holds it how
    if kind == "case_number":
        matched = list(
            (
                await session.scalars(
                    select(cases.c.party_id).where(cases.c.number == value.upper()).limit(limit + 1)
                )
            ).all()
        )
    elif kind == "name":
        prefix = fold(value)
        if not prefix:
            return PartyHits(items=[], truncated=False)
        k = party_name_keys
        matched = list(
            (
                await session.scalars(
                    select(k.c.party_id)
                    .where(k.c.key.like(like_prefix(prefix), escape="\\"))
                    .distinct()
                    .limit(limit + 1)
                )
            ).all()
        )
    else:
        id_kind = IdentifierKind(kind)
        pi = party_identifiers
        rank = sa_case((pi.c.trust == "authenticated", 0), (pi.c.trust == "verified", 1), else_=2)
        held = (
            await session.execute(
                select(pi.c.party_id, pi.c.trust, pi.c.evidence)
                .where(pi.c.kind == id_kind.value, pi.c.value == identifier(id_kind, value))
                .order_by(rank, pi.c.party_id)
                .limit(limit + 1)
            )
        ).all()
        matched = [r.party_id for r in held]
        rungs = {r.party_id: (r.trust, r.evidence) for r in held}
    truncated = len(matched) > limit
    hits: dict[uuid.UUID, PartyHit] = {}
    for party_id in matched[:limit]:
        root = await resolve(session, party_id)
        if root in hits:
            continue
        row = (
            await session.execute(
                select(parties.c.display_name, parties.c.provisional).where(parties.c.id == root)
            )
        ).first()
        if row is None:
            continue
        trust, evidence = rungs.get(party_id, (None, None))
        hits[root] = PartyHit(
            party_id=root,
            matched_party_id=party_id,
            display_name=row.display_name,
            provisional=row.provisional,
            trust=trust,
            evidence=evidence,
        )
    # Who holds the identifier by evidence comes first; who merely claimed it never ahead.
    order = {"authenticated": 0, "verified": 1}
    return PartyHits(
        items=sorted(
            hits.values(),
            key=lambda h: (order.get(h.trust or "", 2), h.display_name or "", str(h.party_id)),
        ),
        truncated=truncated,
    )


# --- cases -----------------------------------------------------------------------------


def _summary(viewer: Viewer, r: Row[Any], participants: list[str], now: datetime) -> dict[str, Any]:
    access = CaseAccess(
        id=r.id,
        number=r.number,
        product=r.product,
        confidential=r.confidential,
        owner_team=r.owner_team,
        participants=frozenset(participants),
    )
    visible = viewer.sees(access)
    return {
        "id": r.id,
        "number": r.number,
        "party_id": r.party_id,
        "product": r.product if visible else None,
        "status": r.status if visible else None,
        "owner_team": r.owner_team,
        "participants": participants,
        "confidential": viewer.is_confidential(r.confidential, r.product),
        "redacted": not visible,
        "opened_at": r.opened_at,
        "due_at": r.due_at,
        "overdue": r.is_open and r.due_at is not None and r.due_at < now,
        "closed_at": r.closed_at,
        "result": r.result if visible else None,
        "handover_count": r.handover_count,
        "last_activity_at": r.last_activity_at,
    }


async def case_summaries(
    session: AsyncSession, viewer: Viewer, query: Select[Any], *, now: datetime
) -> list[CaseSummary]:
    rows = (await session.execute(query)).all()
    teams = await _participants(session, [r.id for r in rows])
    return [CaseSummary(**_summary(viewer, r, teams.get(r.id, []), now)) for r in rows]


async def case_party(session: AsyncSession, case_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(cases.c.party_id).where(cases.c.id == case_id))


async def case_view(
    session: AsyncSession, viewer: Viewer, case_id: uuid.UUID, *, now: datetime, count_cap: int
) -> CaseView | None:
    row = (await session.execute(select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        return None
    teams = (await _participants(session, [case_id])).get(case_id, [])
    summary = _summary(viewer, row, teams, now)
    visible = not summary["redacted"]
    h = case_handovers
    handovers = (
        [
            Handover(
                from_team=r.from_team,
                to_team=r.to_team,
                by=r.by_user,
                by_team=r.by_team,
                reason=r.reason,
                at=r.at,
                handover_count=r.handover_count,
            )
            for r in await session.execute(
                select(h).where(h.c.case_id == case_id).order_by(h.c.at, h.c.handover_count)
            )
        ]
        if visible
        else []
    )
    t = timeline_entries
    contact_query = select(t).where(t.c.case_id == case_id, t.c.type.in_(CONTACT_TYPES))
    contact_rows = (
        await session.execute(
            contact_query.order_by(
                t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc()
            ).limit(count_cap)
        )
    ).all()
    contacts = [_contact(r, visible) for r in contact_rows]
    explanations = (
        [
            RoutingExplanationOut(
                message_id=r.message_id,
                at=r.occurred_at,
                explanation=r.body.get("explanation", {}),
                flags=r.body.get("flags", []),
            )
            for r in contact_rows
            if r.type == MessageRouted.TYPE and r.message_id is not None
        ]
        if visible
        else []
    )
    return CaseView(
        **summary,
        handovers=handovers,
        routing_explanations=explanations,
        contacts=contacts,
        contacts_total=await _capped_count(
            session, select(literal(1)).select_from(contact_query.subquery()), count_cap
        ),
    )


def _contact(r: Row[Any], visible: bool) -> ContactOut:
    body: dict[str, Any] = r.body
    inbound = r.type == MessageRouted.TYPE
    return ContactOut(
        event_id=r.event_id,
        direction="inbound" if inbound else "outbound",
        channel=r.channel,
        occurred_at=r.occurred_at,
        message_id=r.message_id,
        subject=(body.get("subject") if inbound else body.get("summary")) if visible else None,
        text=body.get("text") if visible and inbound else None,
    )


async def team_queue(
    session: AsyncSession,
    viewer: Viewer,
    team: str,
    *,
    sort: QueueSort,
    limit: int,
    after: QueueKey | None,
    now: datetime,
    count_cap: int,
) -> QueuePage:
    """Open cases the team owns or takes part in; each half is an index range scan."""
    c = cases
    sort_col = c.c.opened_at if sort is QueueSort.AGE else c.c.queue_due
    order = (sort_col, c.c.id)

    def keyset(query: Select[Any]) -> Select[Any]:
        if after is not None:
            query = query.where(
                tuple_(*order)
                > tuple_(literal(after.at, sort_col.type), literal(after.case_id, c.c.id.type))
            )
        return query.order_by(*order).limit(limit + 1)

    owned = (
        await session.execute(
            keyset(select(c).where(c.c.owner_team == team, c.c.is_open == true()))
        )
    ).all()
    p = case_participants
    joined = (
        await session.execute(
            keyset(
                select(c)
                .join(p, p.c.case_id == c.c.id)
                .where(p.c.team == team, c.c.is_open == true(), c.c.owner_team != team)
            )
        )
    ).all()
    rows = sorted([*owned, *joined], key=lambda r: (_sort_value(r, sort), r.id))[: limit + 1]
    page = rows[:limit]
    teams = await _participants(session, [r.id for r in page])
    items = [
        QueueItem(
            **_summary(viewer, r, teams.get(r.id, []), now),
            role="owner" if r.owner_team == team else "participant",
        )
        for r in page
    ]
    owned_count = select(c.c.id).where(c.c.owner_team == team, c.c.is_open == true())
    joined_count = (
        select(c.c.id)
        .join(p, p.c.case_id == c.c.id)
        .where(p.c.team == team, c.c.is_open == true(), c.c.owner_team != team)
    )
    total = await _capped_count(
        session, owned_count.union_all(joined_count).subquery().select(), count_cap
    )
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = QueueKey(_sort_value(last, sort), last.id).encode(sort.value)
    return QueuePage(team=team, sort=sort, items=items, next_cursor=next_cursor, total=total)


def _sort_value(r: Row[Any], sort: QueueSort) -> datetime:
    value: datetime = r.opened_at if sort is QueueSort.AGE else (r.queue_due or NO_DUE_DATE)
    return value


# --- contacts --------------------------------------------------------------------------


async def locate_contact(session: AsyncSession, message_id: uuid.UUID) -> ContactLocation | None:
    t = timeline_entries
    row = (
        await session.execute(
            select(t.c.message_id, t.c.party_id, t.c.case_id, t.c.event_id).where(
                t.c.message_id == message_id
            )
        )
    ).first()
    if row is None:
        return None
    return ContactLocation(
        message_id=row.message_id, party_id=row.party_id, case_id=row.case_id, event_id=row.event_id
    )


async def suggestion_party(session: AsyncSession, suggestion_id: uuid.UUID) -> uuid.UUID | None:
    s = link_suggestions
    return await session.scalar(select(s.c.party_id).where(s.c.suggestion_id == suggestion_id))


async def merge_party(session: AsyncSession, merge_id: uuid.UUID) -> uuid.UUID | None:
    m = party_merges
    return await session.scalar(
        select(m.c.party_id).where(m.c.merge_id == merge_id, m.c.merged_at.is_not(None))
    )


# --- live updates ----------------------------------------------------------------------


async def head_position(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(timeline_entries.c.position))) or 0)


@dataclass(frozen=True)
class FeedItem:
    position: int
    entry: TimelineEntry


async def feed(
    session: AsyncSession,
    viewer: Viewer,
    *,
    after: int,
    limit: int,
    party_ids: Sequence[uuid.UUID] | None = None,
    case_id: uuid.UUID | None = None,
    team: str | None = None,
) -> list[FeedItem]:
    """Entries after ``after`` in commit order (``position``), for one stream."""
    t = timeline_entries
    query = select(t).where(t.c.position > after)
    if party_ids is not None:
        query = query.where(t.c.party_id.in_(party_ids))
    if case_id is not None:
        query = query.where(t.c.case_id == case_id)
    if team is not None:
        p = case_participants
        query = query.where(
            or_(
                t.c.case_id.in_(select(cases.c.id).where(cases.c.owner_team == team)),
                t.c.case_id.in_(select(p.c.case_id).where(p.c.team == team)),
                t.c.prev_team == team,
            )
        )
    rows = (await session.execute(query.order_by(t.c.position).limit(limit))).all()
    entries = await _entries(session, viewer, rows)
    return [FeedItem(int(r.position), e) for r, e in zip(rows, entries, strict=True)]


# --- access log ------------------------------------------------------------------------


async def access_log_page(
    session: AsyncSession,
    *,
    limit: int,
    before: int | None,
    user: str | None,
    party_id: uuid.UUID | None,
    case_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> AccessLogPage:
    a = access_log
    query = select(a)
    if before is not None:
        query = query.where(a.c.id < before)
    if user is not None:
        query = query.where(a.c.user == user)
    if party_id is not None:
        query = query.where(a.c.party_id == party_id)
    if case_id is not None:
        query = query.where(a.c.case_id == case_id)
    if since is not None:
        query = query.where(a.c.at >= since)
    if until is not None:
        query = query.where(a.c.at < until)
    rows = (await session.execute(query.order_by(a.c.id.desc()).limit(limit + 1))).all()
    items = [
        AccessLogEntry(
            id=int(r.id),
            at=r.at,
            user=r.user,
            teams=[x for x in r.teams.split(",") if x],
            roles=[x for x in r.roles.split(",") if x],
            endpoint=r.endpoint,
            party_id=r.party_id,
            case_id=r.case_id,
            team=r.team,
            purpose=r.purpose,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return AccessLogPage(
        items=items, next_cursor=_encode("a", [items[-1].id]) if more and items else None
    )


def decode_access_cursor(cursor: str) -> int:
    try:
        (value,) = _decode(cursor, "a")
    except Exception as exc:
        raise ValueError("not an access-log cursor") from exc
    if not isinstance(value, int) or not 0 < value <= MAX_BIGINT:
        raise ValueError("not an access-log cursor")
    return value
