"""The delivery worker: claims due deliveries, sends each through its channel's adapter,
records the outcome and the status it reports in one transaction.

Crash safety. A claimed delivery is marked "sending" with a lease (``lease_seconds``) in
its own transaction *before* the adapter is called; the outcome is recorded afterwards. A
worker that dies in between leaves the row "sending" until the lease runs out, and then it
is sent again. That is the one window in which a reply can go out twice: after the
provider took it and before our record of it. Each outcome is recorded as soon as its
provider answered (with the others that answered within 10 ms of it), so the window is at
most 10 ms and one commit long, for each send in flight. Adapters derive every identifier
from the reply id (the e-mail's Message-ID, the SMS reference), so the duplicate carries
the same one and the resident's mail client or the provider can tell. A delivery whose
lease ran out at the attempts ceiling fails instead of being sent once more.

Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers (replicas) share
the due rows; on SQLite (one process, ``BEGIN IMMEDIATE``) the claim transaction is alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.outbound.adapters import Adapters
from services.outbound.channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    Sent,
    TemporaryDeliveryError,
)
from services.outbound.config import OutboundSettings
from services.outbound.metrics import ATTEMPTS, OLDEST_DUE
from services.outbound.orm import PENDING, SENDING, deliveries, outbox
from services.outbound.rules import backoff_seconds
from services.outbound.statuses import status_row
from shared.contracts.outbound import DeliverReply, ReplyStatus
from shared.db.dialect import is_postgres
from shared.outbox import add_to_outbox
from shared.rounds import work_in_rounds

log = logging.getLogger(__name__)

# Outcomes that arrive within this long of the first one are recorded in one transaction: a
# transaction per outcome costs a sixth of the throughput, and 10 ms is small beside the lease.
RECORD_GROUP_SECONDS = 0.01


@dataclass(frozen=True)
class Claimed:
    request: DeliverReply
    attempt: int  # this attempt's number (1 for the first)


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    sent: Sent | None = None
    error: DeliveryError | None = None


class DeliveryWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        adapters: Adapters,
        settings: OutboundSettings,
        on_commit: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._sessions = sessions
        self._adapters = adapters
        self._settings = settings
        self._source = settings.source("eenloket-outbound")
        self._on_commit = on_commit
        self._clock = clock
        self._uniform = uniform
        self._wakeup = asyncio.Event()

    def notify(self) -> None:
        """Look for due deliveries now (called after the consumer committed new ones)."""
        self._wakeup.set()

    async def run(self) -> None:
        await work_in_rounds(
            self.run_once,
            batch=self._settings.worker_batch,
            pause=self._settings.worker_poll_seconds,
            wakeup=self._wakeup,
            what="delivery round",
        )

    async def run_once(self) -> int:
        """Claim, send and record one batch; returns how many deliveries it claimed."""
        claimed = await self._claim()
        sending = {asyncio.ensure_future(self._send(c)) for c in claimed}
        try:
            while sending:
                # Each outcome is recorded soon after its provider answered, with those that
                # answered within RECORD_GROUP_SECONDS of it: a kill then doubles only sends
                # the provider had taken and we had not yet written down, not the whole batch.
                done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                if sending:
                    more, sending = await asyncio.wait(sending, timeout=RECORD_GROUP_SECONDS)
                    done |= more
                await self._record([task.result() for task in done])
        finally:
            for task in sending:
                task.cancel()
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        s = self._settings
        d = deliveries
        now = self._clock()
        query = (
            select(
                d.c.reply_id, d.c.status, d.c.attempts, d.c.request, d.c.reason, d.c.next_attempt_at
            )
            .where(d.c.status.in_(PENDING), d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at)
            .limit(s.worker_batch)
        )
        reports: list[dict[str, Any]] = []
        async with self._sessions() as session, session.begin():
            if is_postgres(session):
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            OLDEST_DUE.set((now - rows[0].next_attempt_at).total_seconds() if rows else 0.0)
            claimed: list[Claimed] = []
            for row in rows:
                request = DeliverReply.model_validate(row.request)
                if row.attempts >= s.max_attempts:
                    # Only a lease that ran out gets here: the worker died sending it, again.
                    reason = row.reason or f"verzending {row.attempts} keer afgebroken"
                    await self._finish(session, row.reply_id, ReplyStatus.FAILED, reason, now)
                    reports.append(self._report(request, ReplyStatus.FAILED, now, reason=reason))
                    continue
                claimed.append(Claimed(request, row.attempts + 1))
            for attempt in {c.attempt for c in claimed}:
                await session.execute(
                    update(d)
                    .where(
                        d.c.reply_id.in_(
                            [c.request.reply_id for c in claimed if c.attempt == attempt]
                        )
                    )
                    .values(
                        status=SENDING,
                        attempts=attempt,
                        next_attempt_at=now + timedelta(seconds=s.lease_seconds),
                        updated_at=now,
                    )
                )
            await add_to_outbox(session, outbox, reports)
        if reports:
            self._committed()
        return claimed

    async def _send(self, claimed: Claimed) -> Outcome:
        request = claimed.request
        channel = request.channel.value
        try:
            sent = await asyncio.wait_for(
                self._adapters[request.channel].send(request),
                timeout=self._settings.send_timeout_seconds,
            )
        except PermanentDeliveryError as exc:
            ATTEMPTS.labels(channel, "permanent").inc()
            return Outcome(claimed, error=exc)
        except DeliveryError as exc:
            ATTEMPTS.labels(channel, "temporary").inc()
            return Outcome(claimed, error=exc)
        except TimeoutError:
            ATTEMPTS.labels(channel, "temporary").inc()
            seconds = self._settings.send_timeout_seconds
            return Outcome(
                claimed, error=TemporaryDeliveryError(f"geen antwoord binnen {seconds:g} s")
            )
        except Exception as exc:
            # An adapter's bug: retried up to the ceiling like a temporary failure, so a
            # fixed adapter still sends it; the reason names only the error's type.
            ATTEMPTS.labels(channel, "temporary").inc()
            log.exception(
                "adapter raised an unexpected error",
                extra={"reply_id": str(request.reply_id), "channel": channel},
            )
            return Outcome(
                claimed, error=TemporaryDeliveryError(f"onverwachte fout ({type(exc).__name__})")
            )
        ATTEMPTS.labels(channel, "sent").inc()
        return Outcome(claimed, sent=sent)

    async def _record(self, outcomes: list[Outcome]) -> None:
        s = self._settings
        now = self._clock()
        reports: list[dict[str, Any]] = []
        async with self._sessions() as session, session.begin():
            for outcome in outcomes:
                request, attempt = outcome.claimed.request, outcome.claimed.attempt
                values: dict[str, Any]
                report: dict[str, Any] | None = None  # the status to report, if any
                if outcome.sent is not None:
                    status = outcome.sent.status
                    reference = outcome.sent.reference
                    values = {"status": status.value, "reference": reference, "reason": None}
                    report = {"status": status, "reference": reference}
                else:
                    assert outcome.error is not None
                    reason = outcome.error.reason
                    final = (
                        isinstance(outcome.error, PermanentDeliveryError)
                        or attempt >= s.max_attempts
                    )
                    if final:
                        values = {"status": ReplyStatus.FAILED.value, "reason": reason}
                        report = {"status": ReplyStatus.FAILED, "reason": reason}
                    else:
                        wait = backoff_seconds(
                            attempt,
                            base=s.backoff_base_seconds,
                            ceiling=s.backoff_max_seconds,
                            uniform=self._uniform,
                        )
                        values = {
                            "status": ReplyStatus.REQUESTED.value,
                            "reason": reason,
                            "next_attempt_at": now + timedelta(seconds=wait),
                        }
                d = deliveries
                # Only while this attempt still holds the lease: a provider's report may have
                # overtaken it, or (after a long stall) another worker may have taken over.
                changed = await session.execute(
                    update(d)
                    .where(
                        d.c.reply_id == request.reply_id,
                        d.c.status == SENDING,
                        d.c.attempts == attempt,
                    )
                    .values(updated_at=now, **values)
                )
                if changed.rowcount == 0 and outcome.sent is not None:  # type: ignore[attr-defined]
                    # A provider's report overtook this attempt (it moved the delivery on while
                    # the adapter was still returning): keep its status, but record the
                    # reference and report that it was sent, so the history has both.
                    changed = await session.execute(
                        update(d)
                        .where(
                            d.c.reply_id == request.reply_id,
                            d.c.attempts == attempt,
                            d.c.reference.is_(None),
                            d.c.status != SENDING,
                        )
                        .values(reference=outcome.sent.reference)
                    )
                if changed.rowcount == 1 and report is not None:  # type: ignore[attr-defined]
                    reports.append(self._report(request, now=now, **report))
            await add_to_outbox(session, outbox, reports)
        self._committed()

    async def _finish(
        self, session: AsyncSession, reply_id: Any, status: ReplyStatus, reason: str, now: datetime
    ) -> None:
        await session.execute(
            update(deliveries)
            .where(deliveries.c.reply_id == reply_id)
            .values(status=status.value, reason=reason, updated_at=now)
        )

    def _report(
        self,
        request: DeliverReply,
        status: ReplyStatus,
        now: datetime,
        *,
        reason: str | None = None,
        reference: str | None = None,
    ) -> dict[str, Any]:
        return status_row(
            request,
            status,
            source=self._source,
            topic=self._settings.topic_outbound_status,
            at=now,
            reason=reason,
            reference=reference,
        )

    def _committed(self) -> None:
        if self._on_commit is not None:
            self._on_commit()
