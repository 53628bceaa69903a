"""What the outbound service consumes: send requests (``omni.outbound.v1``) become
``deliveries`` rows, providers' reports (``omni.delivery-reports.v1``) move them on.

Both run inside the ``TransactionalConsumer``'s batch transaction, so a delivery row, the
status it reports and the consumed offsets are committed together."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.outbound.metrics import DELIVERIES, IGNORED_REPORTS, UNMATCHED_REPORTS
from services.outbound.orm import deliveries, outbox
from services.outbound.rules import after_report
from services.outbound.statuses import status_row
from shared.contracts.outbound import DeliverReply, DeliveryReportReceived, ReplyStatus
from shared.db.dialect import dialect_insert, dialect_name, is_postgres
from shared.envelope import CloudEvent
from shared.kafka.records import Record
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)


class UnknownEventTypeError(ValueError):
    pass


@dataclass(frozen=True)
class Consume:
    """The consumer's handler: ``source`` and ``status_topic`` of the reports it writes."""

    source: str
    status_topic: str

    async def __call__(self, session: AsyncSession, event: CloudEvent, record: Record) -> None:
        if event.type == DeliverReply.TYPE:
            await accept(session, DeliverReply.model_validate(event.data))
        elif event.type == DeliveryReportReceived.TYPE:
            report = DeliveryReportReceived.model_validate(event.data)
            await self.apply_report(session, report, event)
        else:
            raise UnknownEventTypeError(f"the outbound service does not handle {event.type}")

    async def apply_report(
        self, session: AsyncSession, report: DeliveryReportReceived, event: CloudEvent
    ) -> None:
        """Move the reported delivery on (``rules.after_report``) and report its new status."""
        d = deliveries
        keys = []
        if report.token:
            keys.append(d.c.token == report.token)
        if report.reference:
            # An SMS provider's reference is the reply token; a mail's is its Message-ID.
            keys += [d.c.token == report.reference, d.c.reference == report.reference]
        query = select(d.c.reply_id, d.c.status, d.c.request).where(or_(*keys)).limit(1)
        if is_postgres(session):
            query = query.with_for_update()
        row = (await session.execute(query)).first() if keys else None
        channel = report.channel.value
        if row is None:
            # Not an error: a report about mail sent before this database, or a forged one.
            UNMATCHED_REPORTS.labels(channel).inc()
            log.warning(
                "delivery report matches no delivery",
                extra={"event_id": str(event.id), "channel": channel},
            )
            return
        status = after_report(row.status, report.status)
        if status is None:
            IGNORED_REPORTS.labels(channel).inc()
            log.info(
                "delivery report changes nothing",
                extra={"reply_id": str(row.reply_id), "status": row.status},
            )
            return
        now = datetime.now(UTC)
        await session.execute(
            update(d)
            .where(d.c.reply_id == row.reply_id)
            .values(status=status.value, reason=report.reason, updated_at=now)
        )
        request = DeliverReply.model_validate(row.request)
        await add_to_outbox(
            session,
            outbox,
            [
                status_row(
                    request,
                    status,
                    source=self.source,
                    topic=self.status_topic,
                    at=report.at,
                    reason=report.reason,
                )
            ],
        )


@functools.cache
def _accept_statement(dialect: str) -> Any:
    """Built once per dialect: the values go in as parameters, so SQLAlchemy compiles it once
    (building it per record was a tenth of the consumer's time)."""
    d = deliveries
    return (
        dialect_insert(dialect, d)
        .on_conflict_do_nothing(index_elements=[d.c.reply_id])
        .returning(d.c.reply_id)
    )


async def accept(session: AsyncSession, request: DeliverReply, now: datetime | None = None) -> bool:
    """A ``deliveries`` row for the request, due now; once per reply id (a request delivered
    again, or made again by the router, changes nothing). Whether it was new."""
    now = now or datetime.now(UTC)
    stmt = _accept_statement(dialect_name(session))
    row = {
        "reply_id": request.reply_id,
        "channel": request.channel.value,
        "request": request.model_dump(mode="json"),
        "token": request.token,
        "status": ReplyStatus.REQUESTED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    new = (await session.execute(stmt, row)).first() is not None
    if new:
        DELIVERIES.labels(request.channel.value, ReplyStatus.REQUESTED.value).inc()
    return new
