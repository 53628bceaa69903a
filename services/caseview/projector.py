"""Applying timeline events to the read models, inside the consumer's batch transaction.

One function per event type, routed by ``PROJECTIONS``. Every function is a
pure function of the event and the rows the same party's earlier events wrote
(one party = one partition = one order), so a replay from offset 0 writes the
same rows: that is what makes ``rebuild`` equal to the incremental projection.
Nothing here reads the clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.caseview.commands import status as command_status
from services.caseview.normalize import name_keys
from services.caseview.orm import (
    CLOSED_STATUS,
    NO_DUE_DATE,
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
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseMerged,
    CaseOpened,
    CaseStatusChanged,
    CaseUnfolded,
    CommandRejected,
    Event,
    LinkDecided,
    LinkSuggested,
    MessageRouted,
    NoteAdded,
    OutboundContactRegistered,
    ParticipantAdded,
    ParticipantRemoved,
    PartyCreated,
    PartyIdentifier,
    PartyIdentifierAdded,
    PartyIdentifierRevoked,
    PartyMerged,
    PartyUnmerged,
    PossibleDuplicateFlagged,
)
from shared.db.bulk import insert_many, postgres_driver
from shared.db.dialect import is_postgres, upsert_insert
from shared.db.types import UtcDateTime
from shared.envelope import CloudEvent

# PostgreSQL advisory lock that serialises the projector transactions which assign
# timeline positions (see ``_feed_lock``). The rebuild's shadow uses its own key.
FEED_LOCK_KEY = 0x0CA5E71E
FEED_LOCK_INFO = "caseview_feed_lock"


# --- parties ---------------------------------------------------------------------------


async def party_created(session: AsyncSession, event: CloudEvent, e: PartyCreated) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.created_at)
    row = {
        "id": e.party_id,
        "provisional": e.provisional,
        "display_name": e.display_name,
        "created_at": e.created_at,
    }
    keys = [{"key": k, "party_id": e.party_id} for k in name_keys(e.display_name)]
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is not None:
        buffer.parties.append(row)
        buffer.name_keys.extend(keys)
    else:
        await session.execute(parties.insert().values(**row))
        if keys:
            await session.execute(
                upsert_insert(session, party_name_keys).on_conflict_do_nothing(), keys
            )
    for identifier in e.identifiers:
        await _identifier(session, e.party_id, identifier, e.created_at)


async def identifier_added(
    session: AsyncSession, event: CloudEvent, e: PartyIdentifierAdded
) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    await _identifier(session, e.party_id, e.identifier, e.at)


async def identifier_revoked(
    session: AsyncSession, event: CloudEvent, e: PartyIdentifierRevoked
) -> None:
    """The party keeps the identifier at the rung it still holds it, or not at all."""
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    key = (e.party_id, e.identifier.kind.value, e.identifier.value)
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is not None:
        known = buffer.identifiers.pop(key, None)
        if known is not None and e.still_held_as is not None:
            known.update(trust=e.still_held_as.value, evidence=None)
            buffer.identifiers[key] = known
    t = party_identifiers
    where = (t.c.party_id == key[0], t.c.kind == key[1], t.c.value == key[2])
    if e.still_held_as is None:
        await session.execute(delete(t).where(*where))
    else:
        await session.execute(
            update(t).where(*where).values(trust=e.still_held_as.value, evidence=None)
        )


async def link_suggested(session: AsyncSession, event: CloudEvent, e: LinkSuggested) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "suggested_party_id": e.suggested_party_id,
        "identifier_kind": e.identifier.kind.value,
        "identifier_value": e.identifier.value,
        "identifier_trust": e.identifier.trust.value,
        "message_id": e.message_id,
        "suggested_at": e.at,
    }
    await _upsert(session, link_suggestions, {"suggestion_id": e.suggestion_id}, values)


async def link_decided(session: AsyncSession, event: CloudEvent, e: LinkDecided) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "suggested_party_id": e.suggested_party_id,
        "decision": "confirmed" if e.confirmed else "rejected",
        "decided_by": e.by.user,
        "decided_team": e.by.team,
        "decision_reason": e.reason,
        "decided_at": e.at,
    }
    await _upsert(session, link_suggestions, {"suggestion_id": e.suggestion_id}, values)


async def duplicate_flagged(
    session: AsyncSession, event: CloudEvent, e: PossibleDuplicateFlagged
) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)


async def party_merged(session: AsyncSession, event: CloudEvent, e: PartyMerged) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "merged_party_id": e.merged_party_id,
        "merged_by": e.by.user,
        "merged_team": e.by.team,
        "merge_reason": e.reason,
        "merged_at": e.at,
    }
    await _upsert(session, party_merges, {"merge_id": e.merge_id}, values)


async def party_unmerged(session: AsyncSession, event: CloudEvent, e: PartyUnmerged) -> None:
    await _entry(session, event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "merged_party_id": e.merged_party_id,
        "unmerged_by": e.by.user,
        "unmerged_team": e.by.team,
        "unmerge_reason": e.reason,
        "unmerged_at": e.at,
    }
    await _upsert(session, party_merges, {"merge_id": e.merge_id}, values)


# --- cases -----------------------------------------------------------------------------


async def case_opened(session: AsyncSession, event: CloudEvent, e: CaseOpened) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.opened_at)
    row = {
        "id": e.case_id,
        "number": e.case_number,
        "party_id": e.party_id,
        "product": e.product,
        "confidential": e.confidential,
        "status": e.status,
        "is_open": e.status != CLOSED_STATUS,
        "owner_team": e.owner_team,
        "opened_at": e.opened_at,
        "due_at": e.due_at,
        "queue_due": e.due_at or NO_DUE_DATE,
        "handover_count": 0,
        "last_activity_at": e.opened_at,
    }
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is not None:
        buffer.cases.append(row)
    else:
        await session.execute(cases.insert().values(**row))
        await _catch_up_folds(session, [e.case_id])


async def case_classified(session: AsyncSession, event: CloudEvent, e: CaseClassified) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    values: dict[str, Any] = {"product": e.product}
    if e.confidential:  # a case never becomes less confidential
        values["confidential"] = True
    await session.execute(update(cases).where(cases.c.id == e.case_id).values(**values))


async def message_routed(session: AsyncSession, event: CloudEvent, e: MessageRouted) -> None:
    await _entry(
        session,
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        message_id=e.message_id,
        channel=e.channel.value,
        occurred_at=e.received_at,
    )
    await _touch(session, e.case_id, e.received_at)


async def case_handed_over(session: AsyncSession, event: CloudEvent, e: CaseHandedOver) -> None:
    await _entry(
        session,
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        occurred_at=e.at,
        prev_team=e.from_team,
    )
    await session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            owner_team=e.to_team, handover_count=e.handover_count, last_activity_at=_later(e.at)
        )
    )
    await session.execute(
        case_handovers.insert().values(
            event_id=event.id,
            case_id=e.case_id,
            from_team=e.from_team,
            to_team=e.to_team,
            by_user=e.by.user,
            by_team=e.by.team,
            reason=e.reason,
            handover_count=e.handover_count,
            at=e.at,
        )
    )


async def participant_added(session: AsyncSession, event: CloudEvent, e: ParticipantAdded) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await _upsert(
        session,
        case_participants,
        {"case_id": e.case_id, "team": e.team},
        {"added_at": e.at, "added_by": e.by.user, "reason": e.reason},
    )
    await _touch(session, e.case_id, e.at)


async def participant_removed(
    session: AsyncSession, event: CloudEvent, e: ParticipantRemoved
) -> None:
    await _entry(
        session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at, prev_team=e.team
    )
    await session.execute(
        delete(case_participants).where(
            case_participants.c.case_id == e.case_id, case_participants.c.team == e.team
        )
    )
    await _touch(session, e.case_id, e.at)


async def status_changed(session: AsyncSession, event: CloudEvent, e: CaseStatusChanged) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    closed = e.to_status == CLOSED_STATUS
    await session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=e.to_status,
            is_open=not closed,
            closed_at=e.at if closed else None,
            last_activity_at=_later(e.at),
        )
    )


async def case_closed(session: AsyncSession, event: CloudEvent, e: CaseClosed) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=CLOSED_STATUS,
            is_open=False,
            closed_at=e.at,
            result=e.result,
            last_activity_at=_later(e.at),
        )
    )


async def case_merged(session: AsyncSession, event: CloudEvent, e: CaseMerged) -> None:
    """The contacts move to the case they belong to; the folded case is closed, kept, and
    no longer listed with the party's cases."""
    await _entry(session, event, party_id=e.party_id, case_id=e.into_case_id, occurred_at=e.at)
    if e.message_ids:
        # The contacts go where the receiving case itself went: a fold of that case into a
        # third one (another party's partition) may have been applied first.
        target = await _final_case(session, e.into_case_id)
        buffer: _Buffer | None = session.info.get(BUFFER)
        if buffer is not None:
            # Contacts routed earlier in this batch are still in the buffer, not in the table.
            moved = set(e.message_ids)
            for row in buffer.rows:
                if row["message_id"] in moved:
                    row["case_id"] = target
        await session.execute(
            update(timeline_entries)
            .where(timeline_entries.c.message_id.in_(e.message_ids))
            .values(case_id=target)
        )
    await session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=CLOSED_STATUS,
            is_open=False,
            closed_at=e.at,
            result=e.reason,
            merged_into=e.into_case_id,
            last_activity_at=_later(e.at),
        )
    )
    await _touch(session, e.into_case_id, e.at)


async def case_unfolded(session: AsyncSession, event: CloudEvent, e: CaseUnfolded) -> None:
    """A merge undone: the contacts a fold moved come back to their own case, which takes
    the status it had before the fold."""
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    if e.message_ids:
        buffer: _Buffer | None = session.info.get(BUFFER)
        if buffer is not None:
            moved = set(e.message_ids)
            for row in buffer.rows:
                if row["message_id"] in moved:
                    row["case_id"] = e.case_id
        await session.execute(
            update(timeline_entries)
            .where(timeline_entries.c.message_id.in_(e.message_ids))
            .values(case_id=e.case_id)
        )
    await session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=e.status,
            is_open=e.status != CLOSED_STATUS,
            closed_at=None,
            result=None,
            merged_into=None,
            last_activity_at=_later(e.at),
        )
    )


async def note_added(session: AsyncSession, event: CloudEvent, e: NoteAdded) -> None:
    await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await _touch(session, e.case_id, e.at)


async def outbound_registered(
    session: AsyncSession, event: CloudEvent, e: OutboundContactRegistered
) -> None:
    await _entry(
        session,
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        channel=e.channel.value,
        occurred_at=e.at,
    )
    await _touch(session, e.case_id, e.at)


async def command_rejected(session: AsyncSession, event: CloudEvent, e: CommandRejected) -> None:
    # Without a party the rejection belongs to no history (the command named nothing known).
    if e.party_id is not None:
        await _entry(session, event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)


# --- helpers ---------------------------------------------------------------------------


async def _identifier(
    session: AsyncSession, party_id: uuid.UUID, identifier: PartyIdentifier, at: datetime
) -> None:
    # The router's latest word on an identifier's trust wins (e.g. claimed -> verified);
    # the time it was first added stays.
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is not None:
        key = (party_id, identifier.kind.value, identifier.value)
        known = buffer.identifiers.get(key)
        if known is None:
            buffer.identifiers[key] = {
                "party_id": party_id,
                "kind": identifier.kind.value,
                "value": identifier.value,
                "trust": identifier.trust.value,
                "added_at": at,
                "evidence": identifier.evidence,
            }
        else:
            known["trust"] = identifier.trust.value
            known["evidence"] = identifier.evidence
        return
    await _upsert(
        session,
        party_identifiers,
        {"party_id": party_id, "kind": identifier.kind.value, "value": identifier.value},
        {"trust": identifier.trust.value, "added_at": at, "evidence": identifier.evidence},
        keep={"added_at"},
    )


async def _upsert(
    session: AsyncSession,
    table: Any,
    key: dict[str, Any],
    values: dict[str, Any],
    *,
    keep: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    stmt = upsert_insert(session, table).values(**key, **values)
    update_set = {k: stmt.excluded[k] for k in values if k not in keep}
    await session.execute(
        stmt.on_conflict_do_update(index_elements=list(key), set_=update_set)
        if update_set
        else stmt.on_conflict_do_nothing()
    )


async def _final_case(session: AsyncSession, case_id: uuid.UUID) -> uuid.UUID:
    """Follow folds (``merged_into``) to the case that holds a folded case's contacts now."""
    seen = {case_id}
    current = case_id
    for _ in range(32):
        folded_into = await session.scalar(select(cases.c.merged_into).where(cases.c.id == current))
        if folded_into is None or folded_into in seen:
            break
        seen.add(folded_into)
        current = folded_into
    return current


async def _catch_up_folds(session: AsyncSession, opened: list[uuid.UUID]) -> None:
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


def _later(at: datetime) -> Any:
    # Monotonic: after a merge a case may get events from two parties' partitions,
    # whose relative order differs between runs; the latest time wins either way.
    return case((cases.c.last_activity_at < at, at), else_=cases.c.last_activity_at)


async def _touch(session: AsyncSession, case_id: uuid.UUID, at: datetime) -> None:
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is not None:
        known = buffer.touches.get(case_id)
        buffer.touches[case_id] = at if known is None or at > known else known
        return
    await session.execute(
        update(cases).where(cases.c.id == case_id).values(last_activity_at=_later(at))
    )


async def _feed_lock(session: AsyncSession) -> None:
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


async def _entry(
    session: AsyncSession,
    event: CloudEvent,
    *,
    party_id: uuid.UUID,
    occurred_at: datetime,
    **columns: Any,
) -> None:
    t = timeline_entries
    buffer: _Buffer | None = session.info.get(BUFFER)
    if buffer is None:
        await _feed_lock(session)
    # The history order: the event's time, but never before the party's previous entry,
    # so one party's history is exactly its sequence order even if clocks disagreed.
    if buffer is not None and party_id in buffer.last_sort:
        last = buffer.last_sort[party_id]
    else:
        last = await session.scalar(select(func.max(t.c.sort_at)).where(t.c.party_id == party_id))
    sort_at = event.time if last is None or event.time > last else last
    row = {
        **ENTRY_DEFAULTS,
        "event_id": event.id,
        "party_id": party_id,
        "sequence": event.sequence or 0,
        "sort_at": sort_at,
        "type": event.type,
        "occurred_at": occurred_at,
        "body": event.data,
        **columns,
    }
    if buffer is not None:
        buffer.last_sort[party_id] = sort_at
        buffer.rows.append(row)
        return
    await session.execute(t.insert().values(**row))


Projection = Callable[[AsyncSession, CloudEvent, Any], Awaitable[None]]

PROJECTIONS: dict[str, tuple[type[Event], Projection]] = {
    PartyCreated.TYPE: (PartyCreated, party_created),
    PartyIdentifierAdded.TYPE: (PartyIdentifierAdded, identifier_added),
    PartyIdentifierRevoked.TYPE: (PartyIdentifierRevoked, identifier_revoked),
    LinkSuggested.TYPE: (LinkSuggested, link_suggested),
    LinkDecided.TYPE: (LinkDecided, link_decided),
    PossibleDuplicateFlagged.TYPE: (PossibleDuplicateFlagged, duplicate_flagged),
    PartyMerged.TYPE: (PartyMerged, party_merged),
    PartyUnmerged.TYPE: (PartyUnmerged, party_unmerged),
    CaseOpened.TYPE: (CaseOpened, case_opened),
    MessageRouted.TYPE: (MessageRouted, message_routed),
    CaseClassified.TYPE: (CaseClassified, case_classified),
    CaseHandedOver.TYPE: (CaseHandedOver, case_handed_over),
    ParticipantAdded.TYPE: (ParticipantAdded, participant_added),
    ParticipantRemoved.TYPE: (ParticipantRemoved, participant_removed),
    CaseStatusChanged.TYPE: (CaseStatusChanged, status_changed),
    CaseClosed.TYPE: (CaseClosed, case_closed),
    CaseMerged.TYPE: (CaseMerged, case_merged),
    CaseUnfolded.TYPE: (CaseUnfolded, case_unfolded),
    NoteAdded.TYPE: (NoteAdded, note_added),
    OutboundContactRegistered.TYPE: (OutboundContactRegistered, outbound_registered),
    CommandRejected.TYPE: (CommandRejected, command_rejected),
}


# --- batches ---------------------------------------------------------------------------

BUFFER = "caseview_projection_buffer"
ENTRY_DEFAULTS: dict[str, Any] = {
    "case_id": None,
    "message_id": None,
    "channel": None,
    "prev_team": None,
}


# Events whose projection only adds rows (or touches cases) that the buffer writes in bulk.
# Any other event is applied after the buffered parties, cases and identifiers are written,
# so its statements see them.
BUFFERED = frozenset(
    {
        PartyCreated.TYPE,
        PartyIdentifierAdded.TYPE,
        PossibleDuplicateFlagged.TYPE,
        CaseOpened.TYPE,
        MessageRouted.TYPE,
        NoteAdded.TYPE,
        OutboundContactRegistered.TYPE,
        CommandRejected.TYPE,
    }
)


@dataclass
class _Buffer:
    """A batch's new rows and case touches, written in bulk (one statement per table)."""

    last_sort: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    touches: dict[uuid.UUID, datetime] = field(default_factory=dict)
    parties: list[dict[str, Any]] = field(default_factory=list)
    name_keys: list[dict[str, Any]] = field(default_factory=list)
    identifiers: dict[tuple[uuid.UUID, str, str], dict[str, Any]] = field(default_factory=dict)
    cases: list[dict[str, Any]] = field(default_factory=list)

    async def write_entities(self, session: AsyncSession) -> None:
        """Parties, their name keys and identifiers, and cases: in that order (references)."""
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
            await _catch_up_folds(session, [c["id"] for c in self.cases])
        self.parties, self.name_keys, self.identifiers, self.cases = [], [], {}, []


async def project_batch(
    session: AsyncSession,
    events: list[CloudEvent],
    span: Callable[[int], AbstractContextManager[object]] | None = None,
) -> None:
    """Apply a batch in order with the same functions as ``project``, but new rows (timeline,
    parties, identifiers, cases) and case touches are buffered and written with one
    statement per table, and the feed lock and each party's last history time are taken
    once for the batch."""
    await _feed_lock(session)
    t = timeline_entries
    subjects = set()
    for event in events:
        try:
            subjects.add(uuid.UUID(event.subject or ""))
        except ValueError:
            continue
    buffer = _Buffer(last_sort=dict.fromkeys(subjects))
    if subjects:
        rows = await session.execute(
            select(t.c.party_id, func.max(t.c.sort_at))
            .where(t.c.party_id.in_(subjects))
            .group_by(t.c.party_id)
        )
        buffer.last_sort.update({party: last for party, last in rows})
    session.info[BUFFER] = buffer
    try:
        for n, event in enumerate(events):
            if event.type not in BUFFERED:
                await buffer.write_entities(session)
            # ``span(n)``: the consumer's span for record n, continuing its producer's trace.
            with span(n) if span is not None else nullcontext():
                await project(session, event)
    finally:
        session.info.pop(BUFFER, None)
    await buffer.write_entities(session)
    await insert_many(session, t.insert(), buffer.rows)
    if buffer.touches:
        await _write_touches(session, buffer.touches)


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


async def project(session: AsyncSession, event: CloudEvent) -> None:
    """Apply one event; types caseview does not show are skipped (forward compatible)."""
    await command_status.project_outcome(session, event)  # applied / rejected commands
    entry = PROJECTIONS.get(event.type)
    if entry is None:
        return
    model, apply = entry
    await apply(session, event, model.model_validate(event.data))
