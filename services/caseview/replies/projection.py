"""Projecting replies (``reply.requested``, ``reply.status-changed``): an outgoing entry in the
history and the ``replies`` / ``reply_statuses`` rows. Registered in projector.PROJECTIONS
(one function per event type, like the others; kept here so the projector stays readable).
Pure functions of the event and the rows the party's earlier events wrote: a rebuild writes
the same rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update

from services.caseview.orm import replies, reply_statuses
from services.caseview.sinks import ProjectionSink
from shared.contracts.outbound import (
    FINAL_STATUSES,
    ReplyRequested,
    ReplyStatus,
    ReplyStatusChanged,
)
from shared.db.dialect import upsert_insert
from shared.envelope import CloudEvent


async def reply_requested(sink: ProjectionSink, event: CloudEvent, e: ReplyRequested) -> None:
    await sink.entry(
        event, party_id=e.party_id, case_id=e.case_id, channel=e.channel.value, occurred_at=e.at
    )
    row = {
        "case_id": e.case_id,
        "party_id": e.party_id,
        "identifier_id": e.identifier_id,
        "channel": e.channel.value,
        "recipient_trust": e.recipient_trust,
        "template": e.template,
        "subject": e.subject,
        "text": e.text,
        "notice_only": e.notice_only,
        "attachments": [a.model_dump(mode="json") for a in e.attachments],
        "requested_by": e.by.user,
        "requested_team": e.by.team,
        "requested_at": e.at,
        "status": ReplyStatus.REQUESTED.value,
        "status_at": e.at,
        "fallback_of": e.fallback_of,
    }
    stmt = upsert_insert(sink.session, replies).values(reply_id=e.reply_id, **row)
    # A redelivered request changes nothing a status already said.
    await sink.session.execute(stmt.on_conflict_do_nothing(index_elements=["reply_id"]))
    await _status(sink, event, e.reply_id, ReplyStatus.REQUESTED, None, None, e.at)
    await sink.touch(e.case_id, e.at)


async def reply_status_changed(
    sink: ProjectionSink, event: CloudEvent, e: ReplyStatusChanged
) -> None:
    await sink.entry(
        event, party_id=e.party_id, case_id=e.case_id, channel=e.channel.value, occurred_at=e.at
    )
    await _status(sink, event, e.reply_id, e.status, e.reason, e.reference, e.at)
    # After bounced, failed or handed-to-print nothing changes any more (a late "sent" of a
    # retry does not undo a bounce); a delivered e-mail may still bounce; a "sent" that a
    # provider's report overtook does not undo "delivered".
    stays = {s.value for s in FINAL_STATUSES}
    if e.status in (ReplyStatus.REQUESTED, ReplyStatus.SENT):
        stays.add(ReplyStatus.DELIVERED.value)
    await sink.session.execute(
        update(replies)
        .where(replies.c.reply_id == e.reply_id, replies.c.status.not_in(sorted(stays)))
        .values(status=e.status.value, status_at=e.at)
    )


async def _status(
    sink: ProjectionSink,
    event: CloudEvent,
    reply_id: uuid.UUID,
    status: ReplyStatus,
    reason: str | None,
    reference: str | None,
    at: datetime,
) -> None:
    stmt = upsert_insert(sink.session, reply_statuses).values(
        event_id=event.id,
        reply_id=reply_id,
        status=status.value,
        reason=reason,
        reference=reference,
        at=at,
    )
    await sink.session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]))
