"""The notification worker: registers the kanalen, then claims due notifications, sends each
to the notification component, records the outcome.

Order per hoofdObject: a notification is claimed only when no earlier one of the same
hoofdObject is still open (pending or sending), so a subscriber hears of a klantcontact's
create before its update, and a case's changes in the timeline's order. A notification that
keeps failing holds its hoofdObject's later ones back until it is sent or given up; other
hoofdObjects go on.

At-least-once: a claimed notification is leased (status "sending") in its own transaction
before it is sent and recorded after; a worker that dies in between leaves it to be sent
again once the lease ran out. That, and a component that took a request but whose answer
was lost, are the duplicates the standard allows. Past the ceiling (attempts or age) a
notification is given up: status ``gave_up``, the ``eenloket_notifications_gave_up_total``
counter, the ``NotificationsGivingUp`` alert.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import propagate, trace
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.config import NotificationsSettings
from services.notifications.metrics import ATTEMPTS, GAVE_UP, OLDEST_DUE
from services.notifications.nrc import Sender, SendError
from services.notifications.orm import GAVE_UP as GIVEN_UP
from services.notifications.orm import OPEN, SENDING, SENT, notifications
from shared.db.dialect import is_postgres
from shared.kafka.headers import context_from_carrier
from shared.rounds import purge_every, work_in_rounds

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


def retry_after(
    attempt: int, settings: NotificationsSettings, uniform: Callable[[float, float], float]
) -> float:
    """Seconds before the next try after ``attempt`` failures: doubling from the base up to
    the maximum, then jittered down to at most half (so notifications that failed together
    spread out)."""
    wait = settings.backoff_base_seconds * (1 << min(attempt - 1, 30))
    wait = min(wait, settings.backoff_max_seconds)
    return uniform(wait / 2, wait)


@dataclass(frozen=True)
class Claimed:
    seq: int
    kanaal: str
    body: dict[str, Any]
    trace: dict[str, str] | None
    attempt: int
    created_at: datetime


class NotificationWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        nrc: Sender,
        settings: NotificationsSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._sessions = sessions
        self._nrc = nrc
        self._settings = settings
        self._clock = clock
        self._uniform = uniform
        self._wakeup = asyncio.Event()
        self.registered = False

    def notify(self) -> None:
        """Look for due notifications now (called after the consumer committed new ones)."""
        self._wakeup.set()

    async def register(self) -> None:
        """The kanalen, retried until the component answers: nothing is sent before they
        exist (the component would refuse a notification of an unknown kanaal)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                created = await self._nrc.register_kanalen()
            except Exception as exc:  # the component away or refusing: retry
                wait = retry_after(attempt, self._settings, self._uniform)
                log.warning(
                    "registering kanalen failed; retrying",
                    extra={"error_type": type(exc).__name__, "retry_in": round(wait, 1)},
                )
                await asyncio.sleep(wait)
                continue
            log.info("kanalen registered", extra={"kanalen_created": created})
            self.registered = True
            return

    async def run(self) -> None:
        await self.register()
        await work_in_rounds(
            self.run_once,
            batch=self._settings.worker_batch,
            pause=self._settings.worker_poll_seconds,
            wakeup=self._wakeup,
            what="notification round",
        )

    async def purge_sent(self) -> int:
        """Delete the notifications sent longer ago than the retention; returns how many."""
        n = notifications
        cutoff = self._clock() - timedelta(hours=self._settings.sent_retention_hours)
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(n).where(n.c.status == SENT, n.c.updated_at < cutoff)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge_forever(self) -> None:
        """The periodic purge (a supervised loop, ``shared.rounds.purge_every``)."""
        await purge_every(
            self.purge_sent, seconds=self._settings.purge_every_seconds, what="sent notifications"
        )

    async def run_once(self) -> int:
        """Claim, send and record one batch (one notification per hoofdObject at most);
        returns how many it claimed."""
        claimed = await self._claim()
        if claimed:
            outcomes = await asyncio.gather(*(self._send(c) for c in claimed))
            await self._record(list(zip(claimed, outcomes, strict=True)))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        s = self._settings
        n = notifications
        earlier = n.alias("earlier")
        now = self._clock()
        query = (
            select(
                n.c.seq,
                n.c.kanaal,
                n.c.body,
                n.c.trace,
                n.c.attempts,
                n.c.created_at,
                n.c.next_attempt_at,
            )
            .where(
                n.c.status.in_(OPEN),
                n.c.next_attempt_at <= now,
                ~exists().where(
                    and_(
                        earlier.c.hoofd_object == n.c.hoofd_object,
                        earlier.c.seq < n.c.seq,
                        earlier.c.status.in_(OPEN),
                    )
                ),
            )
            .order_by(n.c.seq)
            .limit(s.worker_batch)
        )
        async with self._sessions() as session, session.begin():
            if is_postgres(session):
                query = query.with_for_update(of=n, skip_locked=True)
            rows = (await session.execute(query)).all()
            oldest = 0.0
            claimed = []
            for row in rows:
                age = (now - row.created_at).total_seconds()
                if row.attempts >= s.max_attempts or age >= s.max_age_seconds:
                    # A lease that ran out at the ceiling, or a notification that waited
                    # behind its hoofdObject's earlier ones past the age: not sent again.
                    await self._give_up(session, row.seq, row.kanaal, "plafond bereikt", now)
                    continue
                # How long it has been due (a retry waiting for its back-off is not due yet).
                oldest = max(oldest, (now - row.next_attempt_at).total_seconds())
                claimed.append(
                    Claimed(
                        row.seq, row.kanaal, row.body, row.trace, row.attempts + 1, row.created_at
                    )
                )
            OLDEST_DUE.set(oldest)
            if claimed:
                await session.execute(
                    update(n)
                    .where(n.c.seq.in_([c.seq for c in claimed]))
                    .values(
                        status=SENDING,
                        attempts=n.c.attempts + 1,
                        next_attempt_at=now + timedelta(seconds=s.lease_seconds),
                        updated_at=now,
                    )
                )
        return claimed

    async def _send(self, c: Claimed) -> SendError | None:
        parent = context_from_carrier(c.trace or {})
        with tracer.start_as_current_span(
            "notificaties send", context=parent, kind=trace.SpanKind.CLIENT
        ):
            headers: dict[str, str] = {}
            propagate.inject(headers)  # the component's logs can join the timeline's trace
            try:
                await asyncio.wait_for(
                    self._nrc.send(c.body, headers), timeout=self._settings.send_timeout_seconds
                )
            except SendError as exc:
                error = exc
            except TimeoutError:
                error = SendError("geen antwoord binnen de tijd")
            except Exception as exc:  # a bug in sending: retried to the ceiling
                log.exception("sending a notification failed unexpectedly")
                error = SendError(type(exc).__name__)
            else:
                ATTEMPTS.labels(c.kanaal, "sent").inc()
                return None
        ATTEMPTS.labels(c.kanaal, "permanent" if error.permanent else "temporary").inc()
        return error

    async def _record(self, outcomes: list[tuple[Claimed, SendError | None]]) -> None:
        s = self._settings
        n = notifications
        now = self._clock()
        async with self._sessions() as session, session.begin():
            for c, error in outcomes:
                # Only while this attempt still holds the lease (a stalled worker's may not).
                leased = and_(n.c.seq == c.seq, n.c.status == SENDING, n.c.attempts == c.attempt)
                if error is None:
                    values: dict[str, Any] = {"status": SENT, "reason": None}
                elif (
                    error.permanent
                    or c.attempt >= s.max_attempts
                    or (now - c.created_at).total_seconds() >= s.max_age_seconds
                ):
                    await self._give_up(session, c.seq, c.kanaal, error.reason, now, leased)
                    continue
                else:
                    wait = retry_after(c.attempt, s, self._uniform)
                    values = {
                        "status": OPEN[0],
                        "reason": error.reason,
                        "next_attempt_at": now + timedelta(seconds=wait),
                    }
                await session.execute(update(n).where(leased).values(updated_at=now, **values))

    async def _give_up(
        self,
        session: AsyncSession,
        seq: int,
        kanaal: str,
        reason: str,
        now: datetime,
        where: Any = None,
    ) -> None:
        n = notifications
        changed = await session.execute(
            update(n)
            .where(where if where is not None else n.c.seq == seq)
            .values(status=GIVEN_UP, reason=reason, updated_at=now)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            GAVE_UP.labels(kanaal).inc()
            log.error(
                "notification given up",
                extra={"seq": seq, "kanaal": kanaal, "reason": reason},
            )
