"""The delivery rules without I/O: the wait before a retry, and which reported status a
delivery moves on to."""

from __future__ import annotations

import random
from collections.abc import Callable

from shared.contracts.outbound import ReplyStatus

# What a provider's report may change, per current status of the delivery. "sending" is
# there because a fast provider's report can overtake the worker's record of the send.
# A delivered e-mail may still bounce; bounced, failed and handed-to-print are final.
_NEXT: dict[str, frozenset[ReplyStatus]] = {
    "sending": frozenset({ReplyStatus.DELIVERED, ReplyStatus.BOUNCED, ReplyStatus.FAILED}),
    ReplyStatus.SENT: frozenset({ReplyStatus.DELIVERED, ReplyStatus.BOUNCED, ReplyStatus.FAILED}),
    ReplyStatus.DELIVERED: frozenset({ReplyStatus.BOUNCED, ReplyStatus.FAILED}),
}


def after_report(current: str, reported: ReplyStatus) -> ReplyStatus | None:
    """The delivery's next status when a provider reports ``reported``, or None when the report
    changes nothing (a repeat, a late "sent", anything after a final status)."""
    return reported if reported in _NEXT.get(current, frozenset()) else None


def backoff_seconds(
    attempt: int,
    *,
    base: float,
    ceiling: float,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """The wait after the ``attempt``-th failed attempt (1, 2, ...): ``base * 2^(attempt-1)``,
    at most ``ceiling``, jittered to between half and all of it ("equal jitter": replies that
    failed together do not all retry in the same second, and none retries at once)."""
    full = min(ceiling, base * 2.0 ** max(0, attempt - 1))
    return full / 2 + uniform(0.0, full / 2)
