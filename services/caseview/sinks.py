"""Where the projector's writes go: at once (``ImmediateSink``, one event at a time) or
gathered for a batch and written with one statement per table (``BufferedSink``).

The projection functions (projector.py) write the rows a batch may gather (history
entries, new parties with their name keys and identifiers, new cases, case touches)
through a ``ProjectionSink``; their other statements (updates, upserts) go to the
session directly, and the batch writes what it gathered before any event that needs
them (``projector.BUFFERED``). Either sink leaves the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, case, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.caseview.orm import (
    IMPORTED_AFTER,
    cases,
    link_suggestions,
    parties,
    party_identifiers,
    party_name_keys,
    timeline_entries,
)
from shared.contracts import CaseMerged
from shared.db.bulk import insert_many, postgres_driver
from shared.db.dialect import is_postgres, upsert_insert
from shared.db.types import UtcDateTime
from shared.envelope import CloudEvent

# PostgreSQL advisory lock that serialises the projector transactions which assign
# timeline positions (see ``feed_lock``). The rebuild's shadow uses its own key.
FEED_LOCK_KEY = 0x0CA5E71E
FEED_LOCK_INFO = "caseview_feed_lock"

ENTRY_DEFAULTS: dict[str, Any] = {
    "case_id": None,
    "message_id": None,
    "channel": None,
    "prev_team": None,
}
IdentifierKey = tuple[uuid.UUID, str, str]  # (party_id, kind, value)


class ProjectionSink(Protocol):
    session: AsyncSession

    async def entry(
        self, event: CloudEvent, *, party_id: uuid.UUID, occurred_at: datetime, **columns: Any
    ) -> None:
        """The event's row in the party's history."""

    async def party(self, row: dict[str, Any], name_keys: list[dict[str, Any]]) -> None: ...

    async def identifier(self, row: dict[str, Any]) -> None:
        """Add or re-rate: the latest trust and evidence win, the first ``added_at`` stays."""

    def identifier_revoked(self, key: IdentifierKey, still_held_as: str | None) -> None:
        """An identifier gathered but not yet written is dropped or re-rated (the revocation's
        own statement reaches the written ones)."""

    async def case(self, row: dict[str, Any]) -> None: ...

    async def touch(self, case_id: uuid.UUID, at: datetime) -> None:
        """The case's last activity moves to ``at`` when that is later."""

    def moved(self, message_ids: Iterable[uuid.UUID], case_id: uuid.UUID) -> None:
        """History entries gathered but not yet written move to ``case_id``."""

    async def suggestion(self, row: dict[str, Any]) -> None:
        """A link suggestion (``link_suggestions``, keyed by ``suggestion_id``) made or made
        again."""


def entry_row(
    event: CloudEvent,
    last: datetime | None,
    *,
    party_id: uuid.UUID,
    occurred_at: datetime,
    **columns: Any,
) -> dict[str, Any]:
    # The history order. What happened long before Eenloket recorded it (an import, a letter
    # scanned a week late) sits at its own moment: an October letter below a December
    # e-mail. Everything else keeps the order Eenloket recorded it in — the event's time,
    # never before the party's previous entry — so a party's live history is its sequence
    # order (the message, then the party and case it made) even if clocks disagreed.
    if event.time - occurred_at > IMPORTED_AFTER:
        sort_at = occurred_at
    else:
        sort_at = event.time if last is None or event.time > last else last
    return {
        **ENTRY_DEFAULTS,
        "event_id": event.id,
        "party_id": party_id,
        "sequence": event.sequence or 0,
        "sort_at": sort_at,
        "recorded_at": event.time,
        "type": event.type,
        "occurred_at": occurred_at,
        "body": event.data,
        **columns,
    }


async def last_sort(session: AsyncSession, party_id: uuid.UUID) -> datetime | None:
    t = timeline_entries
    last: datetime | None = await session.scalar(
        select(func.max(t.c.sort_at)).where(t.c.party_id == party_id)
    )
    return last


def later(at: datetime) -> Any:
    # Monotonic: after a merge a case may get events from two parties' partitions,
    # whose relative order differs between runs; the latest time wins either way.
    # Typed: an untyped datetime in a CASE result is not the column's UtcDateTime, and SQLite
    # stored a +01:00 time as its local wall-clock text (one hour off; issue #21).
    when = literal(at, UtcDateTime())
    return case((cases.c.last_activity_at < when, when), else_=cases.c.last_activity_at)


class ImmediateSink:
    """Every write is a statement now (``project``: one event, the careful path, rebuild)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def entry(
        self, event: CloudEvent, *, party_id: uuid.UUID, occurred_at: datetime, **columns: Any
    ) -> None:
        await feed_lock(self.session)
        last = await last_sort(self.session, party_id)
        row = entry_row(event, last, party_id=party_id, occurred_at=occurred_at, **columns)
        await self.session.execute(timeline_entries.insert().values(**row))

    async def party(self, row: dict[str, Any], name_keys: list[dict[str, Any]]) -> None:
        await self.session.execute(parties.insert().values(**row))
        if name_keys:
            await self.session.execute(
                upsert_insert(self.session, party_name_keys).on_conflict_do_nothing(), name_keys
            )

    async def identifier(self, row: dict[str, Any]) -> None:
        stmt = upsert_insert(self.session, party_identifiers).values(**row)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["party_id", "kind", "value"],
                set_={"trust": stmt.excluded.trust, "evidence": stmt.excluded.evidence},
            )
        )

    def identifier_revoked(self, key: IdentifierKey, still_held_as: str | None) -> None:
        return  # nothing gathered

    async def case(self, row: dict[str, Any]) -> None:
        await self.session.execute(cases.insert().values(**row))
        await catch_up_folds(self.session, [row["id"]])

    async def touch(self, case_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(cases).where(cases.c.id == case_id).values(last_activity_at=later(at))
        )

    def moved(self, message_ids: Iterable[uuid.UUID], case_id: uuid.UUID) -> None:
        return  # nothing gathered

    async def suggestion(self, row: dict[str, Any]) -> None:
        await write_suggestions(self.session, [row])


@dataclass
class BufferedSink:
    """A batch's new rows and case touches, written in bulk (one statement per table); the
    feed lock and each party's last history time are taken once for the batch (``open``)."""

    session: AsyncSession
    last_sort: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    touches: dict[uuid.UUID, datetime] = field(default_factory=dict)
    parties: list[dict[str, Any]] = field(default_factory=list)
    name_keys: list[dict[str, Any]] = field(default_factory=list)
    identifiers: dict[IdentifierKey, dict[str, Any]] = field(default_factory=dict)
    cases: list[dict[str, Any]] = field(default_factory=list)
    # Link suggestions, one statement per batch: a typed address makes one for each party
    # holding it, and writing each at once (and flushing the entities before it) made
    # small batches several times dearer (docs/benchmarks.md, "End to end").
    suggestions: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    async def open(cls, session: AsyncSession, events: list[CloudEvent]) -> BufferedSink:
        await feed_lock(session)
        subjects = set()
        for event in events:
            try:
                subjects.add(uuid.UUID(event.subject or ""))
            except ValueError:
                continue
        sink = cls(session, last_sort=dict.fromkeys(subjects))
        if subjects:
            t = timeline_entries
            rows = await session.execute(
                select(t.c.party_id, func.max(t.c.sort_at))
                .where(t.c.party_id.in_(subjects))
                .group_by(t.c.party_id)
            )
            sink.last_sort.update({party: last for party, last in rows})
        return sink

    async def entry(
        self, event: CloudEvent, *, party_id: uuid.UUID, occurred_at: datetime, **columns: Any
    ) -> None:
        if party_id in self.last_sort:
            last = self.last_sort[party_id]
        else:
            last = await last_sort(self.session, party_id)
        row = entry_row(event, last, party_id=party_id, occurred_at=occurred_at, **columns)
        self.last_sort[party_id] = row["sort_at"]
        self.rows.append(row)

    async def party(self, row: dict[str, Any], name_keys: list[dict[str, Any]]) -> None:
        self.parties.append(row)
        self.name_keys.extend(name_keys)

    async def identifier(self, row: dict[str, Any]) -> None:
        key = (row["party_id"], row["kind"], row["value"])
        known = self.identifiers.get(key)
        if known is None:
            self.identifiers[key] = row
        else:
            known["trust"] = row["trust"]
            known["evidence"] = row["evidence"]

    def identifier_revoked(self, key: IdentifierKey, still_held_as: str | None) -> None:
        known = self.identifiers.pop(key, None)
        if known is not None and still_held_as is not None:
            known.update(trust=still_held_as, evidence=None)
            self.identifiers[key] = known

    async def case(self, row: dict[str, Any]) -> None:
        self.cases.append(row)

    async def touch(self, case_id: uuid.UUID, at: datetime) -> None:
        known = self.touches.get(case_id)
        self.touches[case_id] = at if known is None or at > known else known

    async def suggestion(self, row: dict[str, Any]) -> None:
        self.suggestions[row["suggestion_id"]] = row

    def moved(self, message_ids: Iterable[uuid.UUID], case_id: uuid.UUID) -> None:
        moved = set(message_ids)
        for row in self.rows:
            if row["message_id"] in moved:
                row["case_id"] = case_id

    async def write_entities(self) -> None:
        """Parties, their name keys and identifiers, cases, and link suggestions: in that
        order (references)."""
        session = self.session
        await insert_many(session, parties.insert(), self.parties)
        await insert_many(
            session,
            upsert_insert(session, party_name_keys).on_conflict_do_nothing(),
            self.name_keys,
            postgres_suffix="ON CONFLICT DO NOTHING",
        )
        if self.identifiers:
            stmt = upsert_insert(session, party_identifiers)
            await insert_many(
                session,
                stmt.on_conflict_do_update(
                    index_elements=["party_id", "kind", "value"],
                    set_={"trust": stmt.excluded.trust, "evidence": stmt.excluded.evidence},
                ),
                list(self.identifiers.values()),
                postgres_suffix="ON CONFLICT (party_id, kind, value) "
                "DO UPDATE SET trust = EXCLUDED.trust, evidence = EXCLUDED.evidence",
            )
        if self.cases:
            await insert_many(session, cases.insert(), self.cases)
            await catch_up_folds(session, [c["id"] for c in self.cases])
        await write_suggestions(session, list(self.suggestions.values()))
        self.parties, self.name_keys, self.identifiers, self.cases = [], [], {}, []
        self.suggestions = {}

    async def close(self) -> None:
        """Write everything gathered: entities, history entries, case touches."""
        await self.write_entities()
        await insert_many(self.session, timeline_entries.insert(), self.rows)
        if self.touches:
            await _write_touches(self.session, self.touches)


_SUGGESTED = (
    "party_id",
    "suggested_party_id",
    "identifier_kind",
    "identifier_value",
    "identifier_trust",
    "message_id",
    "suggested_at",
)


async def write_suggestions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Link suggestions made (again): one upsert on ``suggestion_id``; a decision already
    projected stays (only what the suggestion says is set)."""
    stmt = upsert_insert(session, link_suggestions)
    await insert_many(
        session,
        stmt.on_conflict_do_update(
            index_elements=["suggestion_id"], set_={k: stmt.excluded[k] for k in _SUGGESTED}
        ),
        rows,
        postgres_suffix="ON CONFLICT (suggestion_id) DO UPDATE SET "
        + ", ".join(f"{k} = EXCLUDED.{k}" for k in _SUGGESTED),
    )


async def _write_touches(session: AsyncSession, touches: dict[uuid.UUID, datetime]) -> None:
    """Each touched case's last activity moves to the touch when that is later."""
    driver = await postgres_driver(session)
    if driver is not None:
        # One statement for the batch (an UPDATE per case was ~35,000 statements a minute
        # at 600 messages/s). Sorted by id: concurrent batches lock rows in one order.
        ordered = sorted(touches.items())
        await driver.execute(
            "UPDATE cases c SET last_activity_at = greatest(c.last_activity_at, u.at) "
            "FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE c.id = u.id",
            [case_id for case_id, _ in ordered],
            [at for _, at in ordered],
        )
        return
    # Typed, so SQLite gets the same naive-UTC text it stores (see UtcDateTime).
    at: BindParameter[datetime] = bindparam("touched_at", type_=UtcDateTime())
    await session.execute(
        update(cases)
        .where(cases.c.id == bindparam("case"))
        .values(
            last_activity_at=case(
                (cases.c.last_activity_at < at, at), else_=cases.c.last_activity_at
            )
        ),
        [{"case": c, "touched_at": when} for c, when in touches.items()],
    )


async def catch_up_folds(session: AsyncSession, opened: list[uuid.UUID]) -> None:
    """A case just opened may already have been folded into by another party's case: the
    ``case.merged`` travels on the folded party's partition and can be projected before
    this ``case.opened``. Its activity then counts now, as if it had come after."""
    t = timeline_entries
    folded = (
        select(func.max(t.c.occurred_at))
        .where(t.c.case_id == cases.c.id, t.c.type == CaseMerged.TYPE)
        .scalar_subquery()
    )
    await session.execute(
        update(cases)
        .where(cases.c.id.in_(opened), folded > cases.c.last_activity_at)
        .values(last_activity_at=folded)
    )


async def feed_lock(session: AsyncSession) -> None:
    """Make timeline positions commit-ordered, so a live stream never skips a row.

    A reader resumes at ``position > last``. If two transactions could hold
    positions at once, the later-numbered one might commit first and a reader
    would pass the other's rows before they became visible. On PostgreSQL one
    transaction-level advisory lock per projector transaction serialises the
    numbering (taken before the first position is drawn, held until commit);
    SQLite serialises writers already (BEGIN IMMEDIATE).
    """
    if not is_postgres(session):
        return
    # Taken per event, not cached per transaction: re-entrant and cheap, and a lock taken
    # inside a savepoint that rolled back (the consumer's careful path) is released.
    key = int(session.info.get(FEED_LOCK_INFO, FEED_LOCK_KEY))
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
