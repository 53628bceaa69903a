"""Applying timeline events to the read models, inside the consumer's batch transaction.

One function per event type, routed by ``PROJECTIONS``. Every function is a
pure function of the event and the rows the same party's earlier events wrote
(one party = one partition = one order), so a replay from offset 0 writes the
same rows: that is what makes ``rebuild`` equal to the incremental projection.
Nothing here reads the clock. Just over 500 lines: one short function per event type reads
best side by side (replies and contact preferences project from their own packages).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.caseview.commands import status as command_status
from services.caseview.normalize import name_keys
from services.caseview.orm import (
    NO_DUE_DATE,
    case_handovers,
    case_participants,
    cases,
    link_suggestions,
    party_identifiers,
    party_merges,
    timeline_entries,
)
from services.caseview.parties.preferences import preferences_changed
from services.caseview.replies.projection import reply_requested, reply_status_changed
from services.caseview.sinks import (
    FEED_LOCK_INFO,
    FEED_LOCK_KEY,
    BufferedSink,
    ImmediateSink,
    ProjectionSink,
    later,
)
from shared.contracts import (
    CaseClassified,
    CaseClosed,
    CaseHandedOver,
    CaseMerged,
    CaseOpened,
    CaseStatus,
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
from shared.contracts.outbound import ContactPreferencesChanged, ReplyRequested, ReplyStatusChanged
from shared.db.dialect import upsert_insert
from shared.envelope import CloudEvent

__all__ = ["FEED_LOCK_INFO", "FEED_LOCK_KEY", "PROJECTIONS", "project", "project_batch"]


# --- parties ---------------------------------------------------------------------------


async def party_created(sink: ProjectionSink, event: CloudEvent, e: PartyCreated) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.created_at)
    row = {
        "id": e.party_id,
        "provisional": e.provisional,
        "display_name": e.display_name,
        "created_at": e.created_at,
    }
    keys = [{"key": k, "party_id": e.party_id} for k in name_keys(e.display_name)]
    await sink.party(row, keys)
    for identifier in e.identifiers:
        await _identifier(sink, e.party_id, identifier, e.created_at)


async def identifier_added(
    sink: ProjectionSink, event: CloudEvent, e: PartyIdentifierAdded
) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    await _identifier(sink, e.party_id, e.identifier, e.at)


async def identifier_revoked(
    sink: ProjectionSink, event: CloudEvent, e: PartyIdentifierRevoked
) -> None:
    """The party keeps the identifier at the rung it still holds it, or not at all."""
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    key = (e.party_id, e.identifier.kind.value, e.identifier.value)
    sink.identifier_revoked(key, None if e.still_held_as is None else e.still_held_as.value)
    t = party_identifiers
    where = (t.c.party_id == key[0], t.c.kind == key[1], t.c.value == key[2])
    if e.still_held_as is None:
        await sink.session.execute(delete(t).where(*where))
    else:
        await sink.session.execute(
            update(t).where(*where).values(trust=e.still_held_as.value, evidence=None)
        )


async def link_suggested(sink: ProjectionSink, event: CloudEvent, e: LinkSuggested) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    await sink.suggestion(
        {
            "suggestion_id": e.suggestion_id,
            "party_id": e.party_id,
            "suggested_party_id": e.suggested_party_id,
            "identifier_kind": e.identifier.kind.value,
            "identifier_value": e.identifier.value,
            "identifier_trust": e.identifier.trust.value,
            "message_id": e.message_id,
            "suggested_at": e.at,
        }
    )


async def link_decided(sink: ProjectionSink, event: CloudEvent, e: LinkDecided) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "suggested_party_id": e.suggested_party_id,
        "decision": "confirmed" if e.confirmed else "rejected",
        "decided_by": e.by.user,
        "decided_team": e.by.team,
        "decision_reason": e.reason,
        "decided_at": e.at,
    }
    await _upsert(sink.session, link_suggestions, {"suggestion_id": e.suggestion_id}, values)


async def duplicate_flagged(
    sink: ProjectionSink, event: CloudEvent, e: PossibleDuplicateFlagged
) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)


async def party_merged(sink: ProjectionSink, event: CloudEvent, e: PartyMerged) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "merged_party_id": e.merged_party_id,
        "merged_by": e.by.user,
        "merged_team": e.by.team,
        "merge_reason": e.reason,
        "merged_at": e.at,
    }
    await _upsert(sink.session, party_merges, {"merge_id": e.merge_id}, values)


async def party_unmerged(sink: ProjectionSink, event: CloudEvent, e: PartyUnmerged) -> None:
    await sink.entry(event, party_id=e.party_id, occurred_at=e.at)
    values = {
        "party_id": e.party_id,
        "merged_party_id": e.merged_party_id,
        "unmerged_by": e.by.user,
        "unmerged_team": e.by.team,
        "unmerge_reason": e.reason,
        "unmerged_at": e.at,
    }
    await _upsert(sink.session, party_merges, {"merge_id": e.merge_id}, values)


# --- cases -----------------------------------------------------------------------------


async def case_opened(sink: ProjectionSink, event: CloudEvent, e: CaseOpened) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.opened_at)
    row = {
        "id": e.case_id,
        "number": e.case_number,
        "party_id": e.party_id,
        "product": e.product,
        "confidential": e.confidential,
        "status": e.status,
        "is_open": e.status != CaseStatus.CLOSED,
        "owner_team": e.owner_team,
        "opened_at": e.opened_at,
        "due_at": e.due_at,
        "queue_due": e.due_at or NO_DUE_DATE,
        "handover_count": 0,
        "last_activity_at": e.opened_at,
    }
    await sink.case(row)


async def case_classified(sink: ProjectionSink, event: CloudEvent, e: CaseClassified) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    values: dict[str, Any] = {"product": e.product}
    if e.confidential:  # a case never becomes less confidential
        values["confidential"] = True
    await sink.session.execute(update(cases).where(cases.c.id == e.case_id).values(**values))


async def message_routed(sink: ProjectionSink, event: CloudEvent, e: MessageRouted) -> None:
    await sink.entry(
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        message_id=e.message_id,
        channel=e.channel.value,
        occurred_at=e.received_at,
    )
    await sink.touch(e.case_id, e.received_at)


async def case_handed_over(sink: ProjectionSink, event: CloudEvent, e: CaseHandedOver) -> None:
    await sink.entry(
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        occurred_at=e.at,
        prev_team=e.from_team,
    )
    await sink.session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(owner_team=e.to_team, handover_count=e.handover_count, last_activity_at=later(e.at))
    )
    await sink.session.execute(
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


async def participant_added(sink: ProjectionSink, event: CloudEvent, e: ParticipantAdded) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await _upsert(
        sink.session,
        case_participants,
        {"case_id": e.case_id, "team": e.team},
        {"added_at": e.at, "added_by": e.by.user, "reason": e.reason},
    )
    await sink.touch(e.case_id, e.at)


async def participant_removed(
    sink: ProjectionSink, event: CloudEvent, e: ParticipantRemoved
) -> None:
    await sink.entry(
        event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at, prev_team=e.team
    )
    await sink.session.execute(
        delete(case_participants).where(
            case_participants.c.case_id == e.case_id, case_participants.c.team == e.team
        )
    )
    await sink.touch(e.case_id, e.at)


async def status_changed(sink: ProjectionSink, event: CloudEvent, e: CaseStatusChanged) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    closed = e.to_status == CaseStatus.CLOSED
    await sink.session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=e.to_status,
            is_open=not closed,
            closed_at=e.at if closed else None,
            last_activity_at=later(e.at),
        )
    )


async def case_closed(sink: ProjectionSink, event: CloudEvent, e: CaseClosed) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await sink.session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=CaseStatus.CLOSED,
            is_open=False,
            closed_at=e.at,
            result=e.result,
            last_activity_at=later(e.at),
        )
    )


async def case_merged(sink: ProjectionSink, event: CloudEvent, e: CaseMerged) -> None:
    """The contacts move to the case they belong to; the folded case is closed, kept, and
    no longer listed with the party's cases."""
    await sink.entry(event, party_id=e.party_id, case_id=e.into_case_id, occurred_at=e.at)
    if e.message_ids:
        # The contacts go where the receiving case itself went: a fold of that case into a
        # third one (another party's partition) may have been applied first.
        target = await _final_case(sink.session, e.into_case_id)
        # Contacts routed earlier in this batch may still be in the sink, not in the table.
        sink.moved(e.message_ids, target)
        await sink.session.execute(
            update(timeline_entries)
            .where(timeline_entries.c.message_id.in_(e.message_ids))
            .values(case_id=target)
        )
    await sink.session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=CaseStatus.CLOSED,
            is_open=False,
            closed_at=e.at,
            result=e.reason,
            merged_into=e.into_case_id,
            last_activity_at=later(e.at),
        )
    )
    await sink.touch(e.into_case_id, e.at)


async def case_unfolded(sink: ProjectionSink, event: CloudEvent, e: CaseUnfolded) -> None:
    """A merge undone: the contacts a fold moved come back to their own case, which takes
    the status it had before the fold."""
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    if e.message_ids:
        sink.moved(e.message_ids, e.case_id)
        await sink.session.execute(
            update(timeline_entries)
            .where(timeline_entries.c.message_id.in_(e.message_ids))
            .values(case_id=e.case_id)
        )
    await sink.session.execute(
        update(cases)
        .where(cases.c.id == e.case_id)
        .values(
            status=e.status,
            is_open=e.status != CaseStatus.CLOSED,
            closed_at=None,
            result=None,
            merged_into=None,
            last_activity_at=later(e.at),
        )
    )


async def note_added(sink: ProjectionSink, event: CloudEvent, e: NoteAdded) -> None:
    await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)
    await sink.touch(e.case_id, e.at)


async def outbound_registered(
    sink: ProjectionSink, event: CloudEvent, e: OutboundContactRegistered
) -> None:
    await sink.entry(
        event,
        party_id=e.party_id,
        case_id=e.case_id,
        channel=e.channel.value,
        occurred_at=e.at,
    )
    await sink.touch(e.case_id, e.at)


async def command_rejected(sink: ProjectionSink, event: CloudEvent, e: CommandRejected) -> None:
    # Without a party the rejection belongs to no history (the command named nothing known).
    if e.party_id is not None:
        await sink.entry(event, party_id=e.party_id, case_id=e.case_id, occurred_at=e.at)


# --- helpers ---------------------------------------------------------------------------


async def _identifier(
    sink: ProjectionSink, party_id: uuid.UUID, identifier: PartyIdentifier, at: datetime
) -> None:
    # The router's latest word on an identifier's trust wins (e.g. claimed -> verified);
    # the time it was first added stays.
    await sink.identifier(
        {
            "party_id": party_id,
            "kind": identifier.kind.value,
            "value": identifier.value,
            "trust": identifier.trust.value,
            "added_at": at,
            "evidence": identifier.evidence,
        }
    )


async def _upsert(
    session: AsyncSession, table: Any, key: dict[str, Any], values: dict[str, Any]
) -> None:
    stmt = upsert_insert(session, table).values(**key, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=list(key), set_={k: stmt.excluded[k] for k in values}
        )
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


Projection = Callable[[ProjectionSink, CloudEvent, Any], Awaitable[None]]

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
    ReplyRequested.TYPE: (ReplyRequested, reply_requested),  # replies/projection.py
    ReplyStatusChanged.TYPE: (ReplyStatusChanged, reply_status_changed),
    ContactPreferencesChanged.TYPE: (ContactPreferencesChanged, preferences_changed),
}


# --- batches ---------------------------------------------------------------------------

# Events whose projection only adds rows (or touches cases) that the buffered sink writes
# in bulk. Any other event is applied after the gathered parties, cases and identifiers
# are written, so its statements see them.
BUFFERED = frozenset(
    {
        PartyCreated.TYPE,
        PartyIdentifierAdded.TYPE,
        PossibleDuplicateFlagged.TYPE,
        LinkSuggested.TYPE,
        CaseOpened.TYPE,
        MessageRouted.TYPE,
        NoteAdded.TYPE,
        OutboundContactRegistered.TYPE,
        CommandRejected.TYPE,
    }
)


async def project_batch(
    session: AsyncSession,
    events: list[CloudEvent],
    span: Callable[[int], AbstractContextManager[object]] | None = None,
) -> None:
    """Apply a batch in order with the same functions as ``project``, but through a
    ``BufferedSink``: new rows (timeline, parties, identifiers, cases) and case touches are
    written with one statement per table, and the feed lock and each party's last history
    time are taken once for the batch."""
    sink = await BufferedSink.open(session, events)
    for n, event in enumerate(events):
        if event.type not in BUFFERED:
            await sink.write_entities()
        # ``span(n)``: the consumer's span for record n, continuing its producer's trace.
        with span(n) if span is not None else nullcontext():
            await apply(sink, event)
    await sink.close()


async def project(session: AsyncSession, event: CloudEvent) -> None:
    """Apply one event, every write at once (the consumer's careful path, rebuild)."""
    await apply(ImmediateSink(session), event)


async def apply(sink: ProjectionSink, event: CloudEvent) -> None:
    """Apply one event through ``sink``; types caseview does not show are skipped (forward
    compatible)."""
    await command_status.project_outcome(sink.session, event)  # applied / rejected commands
    entry = PROJECTIONS.get(event.type)
    if entry is None:
        return
    model, handler = entry
    await handler(sink, event, model.model_validate(event.data))
