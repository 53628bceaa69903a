"""How fast records are arriving: what decides whether a consumer's small batch waits for more.

Waiting (lingering) for more records saves a transaction's fixed costs when many arrive, and
only adds latency when few do: at 100 messages/s a 50 ms linger per consumer was most of a
message's time to become visible. So a consumer lingers only while records arrive faster than
a set rate (``consumer_linger_rate``), measured over the last second.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class ArrivalRate:
    """Records per second over a sliding window (default one second)."""

    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._seen: deque[tuple[float, int]] = deque()
        self._count = 0

    def add(self, records: int) -> None:
        if records:
            self._seen.append((self._clock(), records))
            self._count += records

    def per_second(self) -> float:
        horizon = self._clock() - self._window
        seen = self._seen
        while seen and seen[0][0] < horizon:
            self._count -= seen.popleft()[1]
        return self._count / self._window
