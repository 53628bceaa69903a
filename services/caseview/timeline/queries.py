"""Reading histories: a party's or a case's timeline (newest first, keyset-paginated), the
live feed (commit order), and where a message landed. Need-to-know is applied per entry:
an entry of a confidential case the viewer may not see says only which case it was."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Row,
    RowMapping,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Select

from services.caseview.orm import (
    IMPORTED_AFTER,
    case_participants,
    cases,
    parties,
    party_merges,
    timeline_entries,
)
from services.caseview.paging import Count, TimelineKey, capped_count, out_json
from services.caseview.parties.merges import active_merge
from services.caseview.timeline.models import ContactLocation, FeedItem, TimelineEntry, TimelinePage
from services.caseview.viewer import CaseAccess, Viewer, access_columns, case_access


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
            select(t, *access_columns())
            .select_from(t.outerjoin(cases, cases.c.id == t.c.case_id))
            .where(t.c.party_id == party_id)
        )
        if before is not None:
            query = query.where(_after(party_id, before))
        query = filters.apply(query).order_by(t.c.sort_at.desc(), t.c.sequence.desc())
        rows.extend((await session.execute(query.limit(limit + 1))).all())
    rows.sort(key=row_key, reverse=True)
    page = rows[:limit]
    more = len(rows) > limit
    total = await capped_count(
        session, filters.apply(select(literal(1)).where(t.c.party_id.in_(party_ids))), count_cap
    )
    return TimelinePage(
        party_id=root,
        items=await _entries(session, viewer, page),
        next_cursor=row_key(page[-1]).encode() if more and page else None,
        total=total,
    )


async def statements_alone(session: AsyncSession) -> None:
    """Run this request's statements without BEGIN and COMMIT on PostgreSQL: under READ
    COMMITTED each statement of a read has its own snapshot anyway, so the transaction
    bought nothing but two round trips. Call before the request's first statement."""
    if session.get_bind().dialect.name == "postgresql":  # SQLite's transactions are local calls
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def single_party_page(
    session: AsyncSession,
    viewer: Viewer,
    party_id: uuid.UUID,
    *,
    limit: int,
    before: TimelineKey | None,
    filters: TimelineFilter,
    count_cap: int,
) -> bytes | None:
    """``timeline`` for a party never merged, in one round trip: the page, its count and
    whether the party exists and stands alone come back together; the page as JSON
    (``page_json``). ``None`` when the answer needs ``timeline`` after all (merged, unknown,
    or no entries to carry the flags)."""
    shape = None if before is None else (party_id > before.party_id) - (party_id < before.party_id)
    params: dict[str, Any] = {"party_id": party_id, "page": limit + 1, "counted": count_cap + 1}
    if before is not None:
        params.update(after_at=before.sort_at, after=before.sequence)
    rows = list((await session.execute(_party_page(filters, shape), params)).all())
    if not rows or not rows[0].page_alone or not rows[0].page_known:
        return None
    page = rows[:limit]
    n = int(rows[0].page_total)
    access = _joined_access(page)
    return page_json(
        party_id,
        [page_fields(viewer, m, access.get(m["case_id"])) for m in _mappings(page)],
        row_key(page[-1]).encode() if len(rows) > limit else None,
        Count(value=min(n, count_cap), capped=n > count_cap),
    )


async def case_timeline(
    session: AsyncSession,
    viewer: Viewer,
    case_id: uuid.UUID,
    *,
    limit: int,
    before: TimelineKey | None,
    filters: TimelineFilter,
    count_cap: int,
) -> tuple[uuid.UUID, bytes] | None:
    """A case's history page and the case's party, ``None`` for an unknown case. One round
    trip: the page, the case (its party and what need-to-know decides on) and the capped
    count come back together, written straight to JSON (``page_json``); a page without
    entries asks for the case and the count on their own."""
    query, count = _case_page(filters, before is not None)
    params: dict[str, Any] = {"case_id": case_id, "page": limit + 1, "counted": count_cap + 1}
    if before is not None:
        params.update(after_at=before.sort_at, after_party=before.party_id, after=before.sequence)
    rows = list((await session.execute(query, params)).all())
    if not rows:
        party_id = await session.scalar(select(cases.c.party_id).where(cases.c.id == case_id))
        if party_id is None:
            return None
        n = int(await session.scalar(count, params) or 0)
        total = Count(value=min(n, count_cap), capped=n > count_cap)
        return party_id, page_json(party_id, [], None, total)
    page = rows[:limit]
    access = CaseAccess.of_joined(rows[0], case_id)  # every entry is of this one case
    n = int(rows[0].n)
    return rows[0].case_party_id, page_json(
        rows[0].case_party_id,
        [page_fields(viewer, m, access) for m in _mappings(page)],
        row_key(page[-1]).encode() if len(rows) > limit else None,
        Count(value=min(n, count_cap), capped=n > count_cap),
    )


@functools.lru_cache(maxsize=256)
def _party_page(filters: TimelineFilter, shape: int | None) -> Any:
    """``single_party_page``'s statement, built once per filter and shape (building it per
    request cost more CPU than running it, #22). ``shape``: ``None`` for a first page, else
    how the party compares with the cursor's (``_after``: -1, 0, 1). Parameters:
    ``party_id``, ``page`` (limit + 1), ``counted`` (cap + 1); with a cursor ``after_at``
    and ``after``."""
    t, m = timeline_entries, party_merges
    party_id = bindparam("party_id", type_=t.c.party_id.type)
    alone = ~exists().where(
        or_(m.c.merged_party_id == party_id, m.c.party_id == party_id), active_merge()
    )
    known = exists().where(parties.c.id == party_id)
    counted = filters.apply(select(literal(1)).where(t.c.party_id == party_id))
    total = select(func.count()).select_from(counted.limit(bindparam("counted")).subquery())
    query = (
        select(
            *_without_body(),
            *access_columns(),
            alone.label("page_alone"),
            known.label("page_known"),
            total.scalar_subquery().label("page_total"),
        )
        .select_from(t.outerjoin(cases, cases.c.id == t.c.case_id))
        .where(t.c.party_id == party_id)
    )
    after_at = bindparam("after_at", type_=t.c.sort_at.type)
    if shape == -1:  # as ``_after``
        query = query.where(t.c.sort_at <= after_at)
    elif shape == 0:
        after = tuple_(after_at, bindparam("after", type_=t.c.sequence.type))
        query = query.where(tuple_(t.c.sort_at, t.c.sequence) < after)
    elif shape == 1:
        query = query.where(t.c.sort_at < after_at)
    query = filters.apply(query).order_by(t.c.sort_at.desc(), t.c.sequence.desc())
    return query.limit(bindparam("page"))


@functools.lru_cache(maxsize=256)
def _case_page(filters: TimelineFilter, paged: bool) -> tuple[Any, Any]:
    """``case_timeline``'s page and count statements, built once per filter and shape
    (building them per request cost more CPU than running them, #22). Parameters:
    ``case_id``, ``page`` (limit + 1), ``counted`` (cap + 1); when ``paged`` the cursor's
    ``after_at``, ``after_party`` and ``after``."""
    t = timeline_entries
    case_id = bindparam("case_id", type_=t.c.case_id.type)
    counted = filters.apply(select(literal(1)).where(t.c.case_id == case_id))
    count = select(func.count()).select_from(counted.limit(bindparam("counted")).subquery())
    query = filters.apply(
        select(
            *_without_body(),
            *access_columns(),
            cases.c.party_id.label("case_party_id"),
            count.scalar_subquery().label("n"),
        )
        .select_from(t.join(cases, cases.c.id == t.c.case_id))
        .where(t.c.case_id == case_id)
    )
    if paged:
        after = tuple_(
            bindparam("after_at", type_=t.c.sort_at.type),
            bindparam("after_party", type_=t.c.party_id.type),
            bindparam("after", type_=t.c.sequence.type),
        )
        query = query.where(tuple_(t.c.sort_at, t.c.party_id, t.c.sequence) < after)
    query = query.order_by(t.c.sort_at.desc(), t.c.party_id.desc(), t.c.sequence.desc())
    return query.limit(bindparam("page")), count


def row_key(row: Row[Any]) -> TimelineKey:
    return TimelineKey(row.sort_at, row.party_id, int(row.sequence))


async def _entries(
    session: AsyncSession, viewer: Viewer, rows: Sequence[Row[Any]]
) -> list[TimelineEntry]:
    if rows and "access_owner_team" in rows[0]._fields:  # joined (``access_columns``)
        access = _joined_access(rows)
    else:
        access = await case_access(session, (r.case_id for r in rows if r.case_id is not None))
    return [
        TimelineEntry(**entry_fields(viewer, m, access.get(m["case_id"]))) for m in _mappings(rows)
    ]


def _joined_access(rows: Sequence[Row[Any]]) -> dict[uuid.UUID, CaseAccess]:
    """Each case's ``CaseAccess`` from the rows' ``access_columns``, made once per case."""
    access: dict[uuid.UUID, CaseAccess] = {}
    for r in rows:
        m = r._mapping
        case_id = m["case_id"]
        if case_id is not None and case_id not in access and m["access_owner_team"] is not None:
            access[case_id] = CaseAccess.of_joined(r, case_id)
    return access


def _mappings(rows: Sequence[Row[Any]]) -> list[RowMapping]:
    # A row's mapping answers by name several times faster than the row's attributes
    # (a page reads a dozen of each of its rows' columns, #22).
    return [r._mapping for r in rows]


def entry_fields(
    viewer: Viewer,
    r: Mapping[Any, Any],
    case: CaseAccess | None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``TimelineEntry``'s fields from its row (need-to-know applied), in field order;
    ``body`` instead of the row's own when given."""
    data: dict[str, Any] = r["body"] if body is None else body
    redacted = case is not None and not viewer.sees(case)
    if redacted:
        assert case is not None
        # That a contact happened, when, on which channel, and who owns the case: no contents.
        data = {"case_number": case.number, "owner_team": case.owner_team}
    occurred_at, recorded_at = r["occurred_at"], r["recorded_at"]
    return {
        "event_id": r["event_id"],
        "type": r["type"],
        "party_id": r["party_id"],
        "sequence": int(r["sequence"]),
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "imported": recorded_at is not None and recorded_at - occurred_at > IMPORTED_AFTER,
        "case_id": r["case_id"],
        "message_id": r["message_id"],
        "channel": r["channel"],
        "redacted": redacted,
        "data": data,
    }


def _without_body() -> list[ColumnElement[Any]]:
    """The timeline row's columns with the body as the database's JSON text (``body_json``):
    the pages written straight to JSON carry it as it is, instead of decoding every body into
    Python objects and encoding them again (the decoding alone was a fifth of a timeline
    read's CPU, #22)."""
    t = timeline_entries
    # Neither the body nor what no page shows (the feed's position, a handover's prev_team).
    columns: list[ColumnElement[Any]] = [
        c for c in t.c if c.name not in ("body", "position", "prev_team")
    ]
    return [*columns, cast(t.c.body, Text).label("body_json")]


def page_fields(viewer: Viewer, r: Mapping[Any, Any], case: CaseAccess | None) -> dict[str, Any]:
    """``entry_fields`` of a row of ``_without_body``: the body's JSON text goes into the page
    unchanged (``orjson.Fragment``). PostgreSQL writes ``jsonb`` as text with a space after
    each ``:`` and ``,``: the same document as the models', not the same bytes
    (tests/unit/test_caseview_timeline_json.py)."""
    fields = entry_fields(viewer, r, case, body={})
    if not fields["redacted"]:
        fields["data"] = orjson.Fragment(r["body_json"])
    return fields


def page_json(
    party_id: uuid.UUID, items: list[dict[str, Any]], next_cursor: str | None, total: Count
) -> bytes:
    """A ``TimelinePage`` as JSON straight from the entries' fields: the bytes pydantic would
    write (tests/unit/test_caseview_timeline_json.py holds the two equal), without a model
    per row and FastAPI's validation of the answer."""
    return out_json(
        {
            "party_id": party_id,
            "items": items,
            "next_cursor": next_cursor,
            "total": {"value": total.value, "capped": total.capped},
        }
    )


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


async def head_position(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(timeline_entries.c.position))) or 0)


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
    shown = await _entries(session, viewer, rows)
    return [FeedItem(int(r.position), e) for r, e in zip(rows, shown, strict=True)]
